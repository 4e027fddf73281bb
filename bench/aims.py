"""What the project aims at (issue #7), judged from one run's results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Aim:
    key: str
    what: str
    unit: str  # how the value reads: "µs", "ms", "×", "decisions/s", "" (a plain ratio)
    bound: str  # at_least | at_most | below
    target: float

    def met(self, value: float) -> bool:
        if self.bound == "at_least":
            return value >= self.target
        if self.bound == "at_most":
            return value <= self.target
        return value < self.target

    @property
    def says(self) -> str:
        sign = {"at_least": "≥", "at_most": "≤", "below": "<"}[self.bound]
        return f"{sign} {self.target:,g}{' ' + self.unit if self.unit not in ('', '×') else self.unit}"


AIMS = (
    Aim("core_p50", "decision core p50, warm caches (1)", "µs", "at_most", 20.0),
    Aim("core_over_naive", "decision core speed-up over naive PyCasbin enforce, decisions/s (1 / 2)", "×",
        "at_least", 20.0),
    Aim("core_over_cedar", "decision core speed-up over cedarpy is_authorized, decisions/s (1 / 3)", "×",
        "at_least", 20.0),
    Aim("http_over_floor", "HTTP evaluation throughput / bare FastAPI floor, 200 answers/s (5 / 8)", "",
        "at_least", 0.7),
    Aim("paced_p99", "HTTP evaluation p99, open loop at 80% of 5's rate (6)", "ms", "below", 20.0),
    Aim("batch_rate", "HTTP batch: decisions/s on one worker, every one logged (7)", "decisions/s", "at_least",
        20_000.0),
    Aim("size_growth", "decision core p50, largest registry over smallest (12)", "×", "at_most", 1.5),
    Aim("workers_over_one", "HTTP evaluation, 200 answers/s on --workers N over one worker (15 / 5)", "×",
        "at_least", 1.7),
    Aim("log_handover_per_row", "decision-log write path: the serving process's CPU a row, handing records to the "
        "writer process (its share of the requests' interpreter lock), 100 a frame (13)", "µs", "at_most", 25.0),
)


def _rate(m: dict[str, Any] | None, field: str = "per_second") -> float | None:
    return None if not m else float(m[field])


def _over(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def values(results: dict[str, Any]) -> dict[str, float | None]:
    m = results["measurements"]
    core = m["decision_core"]
    paced, sizes = m.get("http_evaluation_paced"), m.get("registry_sizes")
    batch = m.get("http_batch")
    gateway = results["checks"].get("gateway", {})
    batch_logged = gateway.get("rows_match_decisions", False)
    return {
        "core_p50": float(core["p50_us"]),
        "core_over_naive": _over(_rate(core), _rate(m.get("pycasbin_naive"))),
        "core_over_cedar": _over(_rate(core), _rate(m.get("cedar"))),
        "http_over_floor": _over(_rate(m.get("http_evaluation"), "ok_per_second"),
                                 _rate(m.get("fastapi_floor"), "ok_per_second")),
        "paced_p99": None if not paced else paced["p99_us"] / 1000,
        # Not met unless every decision of the run was logged: a fast batch that loses rows is no batch.
        "batch_rate": None if not batch else (batch["decisions_per_second"] if batch_logged else 0.0),
        "size_growth": None if not sizes else sizes["p50_growth"],
        "workers_over_one": _over(_rate(m.get("http_evaluation_workers"), "ok_per_second"),
                                  _rate(m.get("http_evaluation"), "ok_per_second")),
        "log_handover_per_row": (m.get("log_writes") or {}).get("handover_us_per_row"),
    }


def aims(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for aim, value in zip(AIMS, values(results).values(), strict=True):
        out[aim.key] = {"what": aim.what, "value": None if value is None else round(value, 3),
                        "aim": aim.says, "met": None if value is None else aim.met(value)}
    return out


@dataclass(frozen=True)
class Budget:
    """What one HTTP aim allows one part of the work, in this run's own costs."""

    aim: str  # the aim's key in AIMS
    part: str  # whose CPU: one process, or all that share the machine
    unit: str  # "µs" (CPU a request or decision) or "cores"
    allowed: float
    measured: float

    @property
    def within(self) -> bool:
        return self.measured <= self.allowed


_SHARED = ("http_evaluation", "http_evaluation_paced", "http_batch", "fastapi_floor", "http_evaluation_workers")


def cores_used(results: dict[str, Any]) -> float | None:
    """The most cores the counted processes (gateway, writer, load generator) used together in any HTTP
    measurement of the run: what the machine gave them, the kernel's and its other services' share aside."""
    m = results["measurements"]
    sums = [sum(m[key].get(part) or 0.0 for part in ("server_cpu_cores", "writer_cpu_cores", "client_cpu_cores"))
            for key in _SHARED if m.get(key)]
    return max(sums) if sums else None


def _target(key: str) -> float:
    return next(aim.target for aim in AIMS if aim.key == key)


def budgets(results: dict[str, Any]) -> list[Budget]:
    """Each HTTP aim as CPU budgets, from the run's floor, its CPU a decision and the cores its processes
    were given (K, `cores_used`). One event loop, and the writer's one thread, can spend at most one
    core: at a rate R each may cost at most 1/R a decision, and all of them together K/R.

    - 5/8 ≥ 0.7: R = 0.7 × the floor's answers a second; the gateway, and all three together.
    - 7 ≥ 20,000/s: R = 20,000; the gateway, the writer, and all three together.
    - 15/5 ≥ 1.7×: 1.7 times the cores 5 used, against K.
    A budget exceeded is an aim this machine cannot give at these costs, however the work waits."""
    m, k = results["measurements"], cores_used(results)
    if k is None:
        return []
    out: list[Budget] = []
    single, floor = m.get("http_evaluation"), m.get("fastapi_floor")
    if single and floor and (single.get("cpu_us_each") or {}).get("gateway") is not None and floor.get("ok_per_second"):
        each = single["cpu_us_each"]
        rate = _target("http_over_floor") * floor["ok_per_second"]
        out.append(Budget("http_over_floor", "gateway (one event loop)", "µs", 1e6 / rate, each["gateway"]))
        if each.get("total") is not None:
            out.append(Budget("http_over_floor", "gateway, writer and load generator", "µs", k * 1e6 / rate,
                              each["total"]))
    batch = m.get("http_batch")
    if batch and (batch.get("cpu_us_each") or {}).get("gateway") is not None:
        each, rate = batch["cpu_us_each"], _target("batch_rate")
        out.append(Budget("batch_rate", "gateway (one event loop)", "µs", 1e6 / rate, each["gateway"]))
        if each.get("writer") is not None:
            out.append(Budget("batch_rate", "writer (one thread)", "µs", 1e6 / rate, each["writer"]))
        if each.get("total") is not None:
            out.append(Budget("batch_rate", "gateway, writer and load generator", "µs", k * 1e6 / rate,
                              each["total"]))
    if single and m.get("http_evaluation_workers"):
        used = sum(single.get(part) or 0.0 for part in ("server_cpu_cores", "writer_cpu_cores", "client_cpu_cores"))
        out.append(Budget("workers_over_one", "cores for 5's load times the aim, at 5's costs", "cores", k,
                          _target("workers_over_one") * used))
    return out
