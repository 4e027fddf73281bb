"""One benchmark run: generate and import a registry, then the measurements, in order: 1, 2, 3 with 5, 6
and 7 on the same gateway process, 4, then 8 and 9 (PostgreSQL where reachable)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.audit_queries import bench_audit_queries
from bench.cases import prepare_cases
from bench.config import RunConfig
from bench.generator import Shape, generate_bundle
from bench.http_phase import HttpOutcome, Load, bench_floor, bench_gateway
from bench.inprocess import Agreement, Prepared, bench_core, bench_naive, prepare
from bench.log_writes import (
    WriteResult,
    bench_log_writes,
    postgres_database,
    postgres_problem,
    row_templates,
    sqlite_database,
)
from bench.release import (
    RELEASE_BYTES,
    STATIC_NAME,
    ReleaseOutcome,
    bench_big_release,
    bench_release,
    pick_reader,
    write_random,
)
from bench.servers import Server
from bench.stats import Summary
from bench.workspace import POLICY_DIR, REPO, Workspace
from gateway.decision.calendar import local_day
from gateway.decision.policy import load_policy
from gateway.settings import Settings

AIM_CORE_OVER_NAIVE = 10.0
AIM_HTTP_OVER_FLOOR = 0.5
LOG_ROWS = 1_000_000  # bound on the rows of one decision-log write configuration
Say = Callable[[str], None]


@contextmanager
def _work_directory(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    try:
        yield root
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _today() -> date:
    """The calendar day the gateway decides for: its default zone, as the servers run without GATEWAY_*."""
    return local_day(datetime.now(UTC), ZoneInfo(Settings.model_fields["timezone"].default))


def run(config: RunConfig, say: Say) -> dict[str, Any]:
    started = datetime.now(UTC)
    load_average = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    if load_average and load_average[0] > 0.5:
        say(f"[yellow]the machine is busy (load average {load_average[0]:.2f}): expect noisy figures[/]")
    today = _today()
    postgres_skipped = postgres_problem(config.postgres) if config.postgres else "not asked for (--no-postgres)"
    if postgres_skipped and config.postgres:
        say(f"[yellow]PostgreSQL not reachable ({postgres_skipped}): measurement 8 on SQLite only, no 9[/]")
    with _work_directory(config.keep) as root:
        if config.keep:
            say(f"work directory (kept): {root}")
        workspace = Workspace.create(root)
        bundle = generate_bundle(Shape.for_persons(config.persons), today, config.seed)
        say(f"registry: {', '.join(f'{len(v)} {k}' for k, v in bundle.items())}")
        import_seconds = workspace.import_bundle(bundle)
        say(f"imported with `clearance-gateway registry import` in {import_seconds:.1f} s")
        snapshot = workspace.snapshot()
        policy = load_policy(POLICY_DIR)
        prepared = prepare(prepare_cases(bundle, config.cases, config.seed), snapshot, policy, today)
        if not prepared.cases:
            raise RuntimeError("the decision core could decide none of the prepared cases")
        if prepared.failures:
            say(f"[red]the decision core raised on {len(prepared.failures)} of {config.cases} cases[/]: "
                f"{prepared.failures[0].error}")
        say(f"1/9 decision core: {len(prepared.cases)} cases, {config.duration:g} s")
        seconds, bound = config.duration, config.max_calls
        core = bench_core(prepared, snapshot, policy, today, seconds=seconds, max_calls=bound)
        say("2/9 PyCasbin naive enforce: every case at least once, then to the time limit")
        naive, agreement = bench_naive(prepared, snapshot, today, seconds=seconds, max_calls=bound)
        load = Load(config.concurrency, seconds, config.warmup, bound)
        reader = pick_reader(prepared, bundle)
        write_random(workspace.static_dir / STATIC_NAME, RELEASE_BYTES)

        def on_the_same_gateway(server: Server) -> tuple[ReleaseOutcome, dict[str, Any] | None]:
            say(f"5/9 and 6/9 document release of 100 KiB to {reader.person}, then the same bytes as a static "
                f"file: {config.concurrency} connections, {config.release_duration:g} s each")
            release_load = Load(config.concurrency, config.release_duration, config.warmup, bound)
            release = bench_release(server, workspace, reader, release_load)
            if not config.big_mb:
                return release, None
            say(f"7/9 large release: {config.big_mb} MB uploaded (streamed), then released once, VmRSS sampled")
            return release, bench_big_release(server, workspace, reader, config.big_mb)

        say(f"3/9 HTTP evaluation on the real gateway: {config.concurrency} connections, {seconds:g} s")
        gateway, (release, big) = bench_gateway(workspace, prepared, load, on_the_same_gateway)
        release_rows = workspace.decision_rows("release")
        say(f"4/9 bare FastAPI floor: {config.concurrency} connections, {config.duration:g} s")
        floor = bench_floor(workspace, prepared, load)
        templates = row_templates(prepared, snapshot, policy, today)
        backends = "SQLite" + ("" if postgres_skipped else " and PostgreSQL")
        say(f"8/9 decision-log writes on {backends}: chain on/off x 1/100 rows per transaction, "
            f"{config.log_seconds:g} s each")
        writes: list[WriteResult] = []
        with sqlite_database(root) as url:
            writes += bench_log_writes(url, "sqlite", templates, seconds=config.log_seconds, max_rows=LOG_ROWS)
        if not postgres_skipped:
            assert config.postgres is not None
            with postgres_database(config.postgres, "writes") as url:
                writes += bench_log_writes(url, "postgresql", templates, seconds=config.log_seconds,
                                           max_rows=LOG_ROWS)
    audit = None
    if config.audit_rows and not postgres_skipped:
        assert config.postgres is not None
        say(f"9/9 audit queries on {config.audit_rows:,} decisions in PostgreSQL (generated in SQL)")
        audit = bench_audit_queries(config.postgres, config.audit_rows, say).as_dict()
    results = _results(config, started, today, bundle, import_seconds, prepared, core.summary, naive.summary,
                       agreement, gateway, floor)
    results["machine"]["load_average_at_start"] = load_average
    results["postgres_skipped"] = postgres_skipped
    _add(results, config, release, release_rows, big, writes, audit)
    results["finished_at"] = datetime.now(UTC).isoformat()
    return results


def _add(results: dict[str, Any], config: RunConfig, release: ReleaseOutcome, release_rows: int,
         big: dict[str, Any] | None, writes: list[WriteResult], audit: dict[str, Any] | None) -> None:
    """Measurements 5 to 9, their ratios and checks."""
    m = results["measurements"]
    m["document_release"] = release.release.as_dict(config.concurrency, RELEASE_BYTES)
    m["static_file"] = release.static.as_dict(config.concurrency, RELEASE_BYTES)
    m["document_release"]["reader"] = {"person": release.reader.person, "designation": release.reader.designation}
    m["large_release"] = big
    m["log_writes"] = {w.key: w.as_dict() for w in writes}
    m["audit_queries"] = audit
    r = results["ratios"]
    ok_rate = m["document_release"]["ok_per_second"]
    r["release_over_static"] = {"value": round(ok_rate / m["static_file"]["ok_per_second"], 3)
                                if m["static_file"]["ok_per_second"] else 0.0, "aim_at_least": None, "met": None}
    for backend in ("sqlite", "postgresql"):
        for batch in (1, 100):
            on = m["log_writes"].get(f"{backend}_chain_on_batch_{batch}")
            off = m["log_writes"].get(f"{backend}_chain_off_batch_{batch}")
            if on and off and off["rows_per_second"]:
                r[f"chain_on_over_off_{backend}_batch_{batch}"] = {
                    "value": round(on["rows_per_second"] / off["rows_per_second"], 3), "aim_at_least": None,
                    "met": None}
    answered = release.release_answers_200 + (1 if big and big["release_status"] == 200 else 0)
    results["checks"]["release"] = {
        **release.checks,
        "wrong_lengths": m["document_release"]["wrong_lengths"] + m["static_file"]["wrong_lengths"],
        "release_rows": release_rows,
        "release_answers_200": answered,
        "rows_match_200_answers": release_rows == answered,
    }


def _source() -> dict[str, Any]:
    """The commit measured, and whether the measured code differed from it (uncommitted changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--", "gateway", "models", "policy", "pyproject.toml")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": bool(changed)}


def _http(outcome: HttpOutcome) -> dict[str, Any]:
    measured = outcome.measured
    return {
        **measured.summary.as_dict(),
        "statuses": {str(k): v for k, v in sorted(measured.statuses.items())},
        "ok_per_second": round(measured.ok / measured.summary.seconds, 1) if measured.summary.seconds else 0.0,
        "transport_errors": measured.transport_errors,
        "timed_out": measured.timed_out or outcome.warmup.timed_out,
        "warmup_requests": outcome.warmup.summary.operations,
        "error_bodies": {str(k): v for k, v in (outcome.warmup.error_bodies | measured.error_bodies).items()},
        "server_cpu_cores": None if outcome.server_cores is None else round(outcome.server_cores, 2),
        "client_cpu_cores": round(outcome.client_cores, 2),
    }


def _ratio(numerator: float, denominator: float, aim: float) -> dict[str, Any]:
    value = numerator / denominator if denominator else 0.0
    return {"value": round(value, 3), "aim_at_least": aim, "met": value >= aim}


def _results(config: RunConfig, started: datetime, today: date, bundle: dict[str, Any], import_seconds: float,
             prepared: Prepared, core: Summary, naive: Summary, agreement: Agreement, gateway: HttpOutcome,
             floor: HttpOutcome) -> dict[str, Any]:
    allowed = sum(prepared.expected)
    http, bare = _http(gateway), _http(floor)
    return {
        "benchmark": "clearance-gateway",
        "schema": 2,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "decision_day": today.isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "source": _source(),
        "config": config.as_dict(),
        "registry": {name: len(entries) for name, entries in bundle.items()},
        "import_seconds": round(import_seconds, 2),
        "cases": {
            "decided": len(prepared.cases),
            "allowed": allowed,
            "denied": len(prepared.cases) - allowed,
            "reason_codes": dict(prepared.codes.most_common()),
            "core_failures": {"count": len(prepared.failures),
                              "examples": [f.as_dict() for f in prepared.failures[:5]]},
        },
        "measurements": {
            "decision_core": core.as_dict(),
            "pycasbin_naive": naive.as_dict(),
            "http_evaluation": http,
            "fastapi_floor": bare,
        },
        "checks": {
            "naive_agreement": agreement.as_dict(),
            "gateway": gateway.checks,
        },
        "ratios": {
            "core_over_naive": _ratio(core.per_second, naive.per_second, AIM_CORE_OVER_NAIVE),
            # Only 200 answers count: a server that fails fast must not look fast.
            "http_over_floor": _ratio(http["ok_per_second"], bare["ok_per_second"], AIM_HTTP_OVER_FLOOR),
        },
    }
