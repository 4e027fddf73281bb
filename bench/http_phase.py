"""The real gateway (single evaluations closed and open loop, batches) and the bare FastAPI floor, each
in a uvicorn subprocess.

The gateway runs as bench/gateway_asgi.py: the production app with the settings `clearance-gateway
serve` gives it (one worker, no access log), plus a static directory that measurement 9 compares with.
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.cases import Case
from bench.http_client import Expected, LoadResult, batch_requests, evaluation_requests, run_load
from bench.inprocess import Prepared
from bench.memory import Peak, peak_rss
from bench.servers import HOST, Server, cpu_seconds, log_tail, process_running, running_server
from bench.timing import index_batches
from bench.workspace import Workspace
from gateway.audit.log_writer import writer_process

EVALUATION = "/access/v1/evaluation"
T = TypeVar("T")


@dataclass(frozen=True)
class Load:
    """How hard and how long to drive a server."""

    concurrency: int
    seconds: float
    warmup_seconds: float
    max_requests: int


@dataclass
class HttpOutcome:
    name: str
    measured: LoadResult
    warmup: LoadResult
    server_cpu_seconds: float | None  # the server process and its workers
    checks: dict[str, Any] = field(default_factory=dict)
    writer_cpu_seconds: float | None = None  # the decision-log writer process beside the gateway
    peak: Peak | None = None  # the server's peak RSS during the measured window
    rate: float | None = None  # open loop: the requests a second asked for
    checked: bool = True  # the answers' decisions were read and compared with the core's

    @property
    def server_cores(self) -> float | None:
        wall = self.measured.summary.seconds
        return None if self.server_cpu_seconds is None or not wall else self.server_cpu_seconds / wall

    @property
    def writer_cores(self) -> float | None:
        wall = self.measured.summary.seconds
        return None if self.writer_cpu_seconds is None or not wall else self.writer_cpu_seconds / wall

    @property
    def client_cores(self) -> float:
        wall = self.measured.summary.seconds
        return self.measured.client_cpu_seconds / wall if wall else 0.0

    @property
    def decisions(self) -> int:
        """Decisions in the 200 answers, warm-up included: what the decision log must hold for them."""
        return self.warmup.decisions + self.measured.decisions


@dataclass
class GatewayRun:
    """Measurement 5 and its companions (6, 7) on the same gateway process."""

    single: HttpOutcome
    paced: HttpOutcome | None  # single evaluations, open loop at a fraction of 3's rate
    batch: HttpOutcome | None  # batches of evaluations
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Extra:
    """What else to run on the gateway of measurement 5."""

    paced_fraction: float  # of the closed-loop rate; 0 leaves the open-loop run out
    batch_size: int  # evaluations per batch request; 0 leaves the batch run out
    batch_concurrency: int


def _with_writer(workspace: Workspace, log_socket: Path) -> dict[str, str]:
    """The gateway's environment with the host's decision-log writer, as `serve` starts it."""
    return workspace.gateway_env() | {"GATEWAY_LOG_SOCKET": str(log_socket)}


def _gateway_argv(port: int) -> list[str]:
    """What `clearance-gateway serve` runs (uvicorn, one worker, its HTTP protocol and options), with the
    bench's app."""
    return _workers_argv(1)(port)


def _workers_argv(workers: int) -> Callable[[int], list[str]]:
    """What `clearance-gateway serve --workers N` runs (a listening socket a worker), with the bench's app."""
    return lambda port: [sys.executable, "-m", "bench.workers_server", str(port), str(workers)]


def _floor_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--host", HOST, "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]


def _drive(name: str, server: Server, requests: list[bytes], load: Load, expected: Sequence[Expected] | None,
           rate: float | None = None, workers: int = 1) -> HttpOutcome:
    # Every case once first: a gateway evaluates each new attribute vector with Casbin once (milliseconds),
    # and 5 to 7 measure it warm, as it serves once running; the priming answers count as warm-up. Each
    # worker keeps its own caches and a connection stays with one worker: with several, every connection
    # is given every case (the cases turned round by one a pass), so that each worker has seen them all.
    passes = 1 if workers == 1 else load.concurrency
    prime = run_load(server.port, requests, concurrency=load.concurrency, seconds=600,
                     max_requests=len(requests), expected=expected)
    for turn in range(1, passes):
        more = run_load(server.port, requests[turn:] + requests[:turn], concurrency=load.concurrency, seconds=600,
                        max_requests=len(requests),
                        expected=None if expected is None else [*expected[turn:], *expected[:turn]])
        prime.statuses.update(more.statuses)
        prime.decisions += more.decisions
        prime.disagreements += more.disagreements
        prime.transport_errors += more.transport_errors
    warmup = run_load(server.port, requests, concurrency=load.concurrency, seconds=load.warmup_seconds,
                      max_requests=load.max_requests, expected=expected)
    warmup.statuses.update(prime.statuses)
    warmup.decisions += prime.decisions
    warmup.disagreements += prime.disagreements
    warmup.transport_errors += prime.transport_errors
    writer = process_running("log-writer")  # the gateway's decision-log writer process, if it has one
    cpu_before, writer_before = server.cpu_seconds(), _cpu(writer)
    with peak_rss(server.process.pid) as peak:
        measured = run_load(server.port, requests, concurrency=load.concurrency, seconds=load.seconds,
                            max_requests=load.max_requests, expected=expected, rate=rate)
    cpu_after, writer_after = server.cpu_seconds(), _cpu(writer)
    outcome = HttpOutcome(name, measured, warmup, _spent(cpu_before, cpu_after), peak=peak, rate=rate,
                          checked=expected is not None)
    outcome.writer_cpu_seconds = _spent(writer_before, writer_after)
    return outcome


def _cpu(pid: int | None) -> float | None:
    return None if pid is None else cpu_seconds(pid)


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 3)


def _post_once(server: Server, token: str, case: Case) -> int:
    body = json.dumps({"subject": {"type": "person", "id": case[0]},
                       "resource": {"type": "document", "id": case[1]}, "action": {"name": "read"}})
    connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        connection.request("POST", EVALUATION, body, {"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def bench_gateway(workspace: Workspace, prepared: Prepared, load: Load, extra: Extra,
                  then: Callable[[Server], T]) -> tuple[GatewayRun, T]:
    """The real gateway, decision log on (SQLite file): single evaluations closed loop, then open loop at
    `extra.paced_fraction` of that rate, then batches; then `then(server)` on the same process. Once it
    stopped, the `authzen` rows in the decision log must equal the decisions of the 200 answers."""
    token = workspace.identity.token("authz:evaluate")
    log_path = workspace.root / "gateway.log"
    probe_status = None
    with writer_process(env=workspace.gateway_env()) as log_socket, \
            running_server("gateway", _gateway_argv, env=_with_writer(workspace, log_socket), cwd=workspace.root,
                           log_path=log_path, ready_path="/readyz") as server:
        requests = evaluation_requests(server.port, token, prepared.cases, EVALUATION)
        single = _drive("gateway", server, requests, load, prepared.expected)
        paced = None
        rate = single.measured.ok / single.measured.summary.seconds if single.measured.summary.seconds else 0.0
        if extra.paced_fraction and rate:
            open_loop = Load(load.concurrency, load.seconds, 0.0, load.max_requests)
            paced = _drive("gateway-paced", server, requests, open_loop, prepared.expected,
                           rate=extra.paced_fraction * rate)
        batch = None
        if extra.batch_size:
            indices = index_batches(len(prepared.cases), extra.batch_size)
            bodies = batch_requests(server.port, token, [[prepared.cases[i] for i in b] for b in indices])
            expected = [tuple(prepared.expected[i] for i in b) for b in indices]
            batch_load = Load(extra.batch_concurrency, load.seconds, load.warmup_seconds, load.max_requests)
            batch = _drive("gateway-batch", server, bodies, batch_load, expected)
        if prepared.failures:  # what a caller sees for a case the decision core cannot decide
            probe_status = _post_once(server, token, prepared.failures[0].case)
        after = then(server)
    run = GatewayRun(single, paced, batch)
    outcomes = [o for o in (single, paced, batch) if o is not None]
    decided = sum(o.decisions for o in outcomes) + (probe_status == 200)
    rows = workspace.decision_rows("authzen")
    run.checks = {
        "decision_rows": rows,
        "decisions_answered_200": decided,
        "rows_match_decisions": rows == decided,
        "disagreements_with_core": sum(o.warmup.disagreements + o.measured.disagreements for o in outcomes),
        "failure_probe_status": probe_status,
    }
    if probe_status is not None:
        crashes = [line for line in log_tail(log_path, 400).splitlines() if "request.crashed" in line]
        run.checks["failure_probe_log"] = crashes[-1][:300] if crashes else None
    if any(set(o.measured.statuses) - {200} or o.measured.transport_errors for o in outcomes):
        run.checks["server_log_tail"] = log_tail(log_path, 10)
    return run, after


def bench_floor(workspace: Workspace, prepared: Prepared, load: Load) -> HttpOutcome:
    with running_server("fastapi-floor", _floor_argv, env=workspace.floor_env(), cwd=workspace.root,
                        log_path=workspace.root / "floor.log", ready_path="/healthz") as server:
        requests = evaluation_requests(server.port, "not-checked", prepared.cases, EVALUATION)
        return _drive("floor", server, requests, load, None)


def bench_workers(workspace: Workspace, prepared: Prepared, load: Load,
                  workers: int) -> tuple[HttpOutcome, dict[str, Any]]:
    """Measurement 15: 5 again on `workers` uvicorn worker processes (what `serve --workers N` runs) on the same
    database, after 5's server stopped; its `authzen` rows must grow by the decisions it answered 200. The
    server's CPU is uvicorn's supervisor and its workers together."""
    token = workspace.identity.token("authz:evaluate")
    before = workspace.decision_rows("authzen")
    with writer_process(env=workspace.gateway_env()) as log_socket, \
            running_server(f"gateway-{workers}-workers", _workers_argv(workers),
                           env=_with_writer(workspace, log_socket), cwd=workspace.root,
                           log_path=workspace.root / "gateway-workers.log", ready_path="/readyz") as server:
        requests = evaluation_requests(server.port, token, prepared.cases, EVALUATION)
        outcome = _drive(f"gateway-{workers}-workers", server, requests, load, prepared.expected, workers=workers)
    rows = workspace.decision_rows("authzen") - before
    return outcome, {"decision_rows": rows, "decisions_answered_200": outcome.decisions,
                     "rows_match_decisions": rows == outcome.decisions,
                     "disagreements_with_core": outcome.warmup.disagreements + outcome.measured.disagreements}
