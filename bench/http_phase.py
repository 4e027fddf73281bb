"""Measurements 3 and 4: the real gateway and the bare FastAPI floor, each in a uvicorn subprocess.

The gateway runs as bench/gateway_asgi.py: the production app with the settings `clearance-gateway
serve` gives it (one worker, no access log), plus a static directory that measurement 5 compares with.
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bench.cases import Case
from bench.http_client import LoadResult, evaluation_requests, run_load
from bench.inprocess import Prepared
from bench.servers import HOST, Server, log_tail, running_server
from bench.workspace import Workspace

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
    server_cpu_seconds: float | None
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def server_cores(self) -> float | None:
        wall = self.measured.summary.seconds
        return None if self.server_cpu_seconds is None or not wall else self.server_cpu_seconds / wall

    @property
    def client_cores(self) -> float:
        wall = self.measured.summary.seconds
        return self.measured.client_cpu_seconds / wall if wall else 0.0


def _gateway_argv(port: int) -> list[str]:
    """What `clearance-gateway serve` runs (uvicorn, one worker, no access log), with the bench's app."""
    return [sys.executable, "-m", "uvicorn", "bench.gateway_asgi:app", "--host", HOST, "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]


def _floor_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--host", HOST, "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]


def _drive(server: Server, token: str, prepared: Prepared, load: Load,
           expected: list[bool] | None) -> tuple[LoadResult, LoadResult, float | None]:
    requests = evaluation_requests(server.port, token, prepared.cases, EVALUATION)
    warmup = run_load(server.port, requests, concurrency=load.concurrency, seconds=load.warmup_seconds,
                      max_requests=load.max_requests, expected=expected)
    cpu_before = server.cpu_seconds()
    measured = run_load(server.port, requests, concurrency=load.concurrency, seconds=load.seconds,
                        max_requests=load.max_requests, expected=expected)
    cpu_after = server.cpu_seconds()
    cpu = None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 3)
    return warmup, measured, cpu


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


def bench_gateway(workspace: Workspace, prepared: Prepared, load: Load,
                  then: Callable[[Server], T]) -> tuple[HttpOutcome, T]:
    """The real gateway, decision log on (SQLite file), then `then(server)` on the same process; once it
    stopped, the `authzen` rows in the decision log must equal the 200 answers of this measurement."""
    token = workspace.identity.token("authz:evaluate")
    log_path = workspace.root / "gateway.log"
    probe_status = None
    with running_server("gateway", _gateway_argv, env=workspace.gateway_env(), cwd=workspace.root,
                        log_path=log_path, ready_path="/readyz") as server:
        warmup, measured, cpu = _drive(server, token, prepared, load, prepared.expected)
        if prepared.failures:  # what a caller sees for a case the decision core cannot decide
            probe_status = _post_once(server, token, prepared.failures[0].case)
        after = then(server)
    outcome = HttpOutcome("gateway", measured, warmup, cpu)
    answered_200 = warmup.ok + measured.ok + (probe_status == 200)
    rows = workspace.decision_rows("authzen")
    outcome.checks = {
        "decision_rows": rows,
        "answers_200": answered_200,
        "rows_match_200_answers": rows == answered_200,
        "disagreements_with_core": warmup.disagreements + measured.disagreements,
        "failure_probe_status": probe_status,
    }
    if probe_status is not None:
        crashes = [line for line in log_tail(log_path, 400).splitlines() if "request.crashed" in line]
        outcome.checks["failure_probe_log"] = crashes[-1][:300] if crashes else None
    if set(measured.statuses) - {200} or measured.transport_errors:
        outcome.checks["server_log_tail"] = log_tail(log_path, 10)
    return outcome, after


def bench_floor(workspace: Workspace, prepared: Prepared, load: Load) -> HttpOutcome:
    with running_server("fastapi-floor", _floor_argv, env=workspace.floor_env(), cwd=workspace.root,
                        log_path=workspace.root / "floor.log", ready_path="/healthz") as server:
        warmup, measured, cpu = _drive(server, "not-checked", prepared, load, None)
    return HttpOutcome("floor", measured, warmup, cpu)
