"""`serve --workers N` (issue #13): each worker listens on a socket of its own, so that a document system's
pool of connections, opened together, is spread over the workers instead of landing on whichever woke
first; and a gateway already on the port keeps a second one from starting beside it."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.listeners import spread_supported
from tests.support import REPO, Keys, free_port, serve_env, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not spread_supported(), reason="Linux spreads connections")]
SERVE = str(REPO / ".venv" / "bin" / "clearance-gateway")
BODY = {"subject": {"type": "person", "id": "P-1"}, "resource": {"type": "document", "id": "D-1"},
        "action": {"name": "read"}}  # fmt: skip


def _serve(tmp_path: Path, keys: Keys, port: int, name: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen([SERVE, "serve", "--port", str(port), "--workers", "2"], env=serve_env(tmp_path, keys),
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.fixture
def two_workers(tmp_path: Path, keys: Keys) -> Iterator[tuple[str, int]]:
    port = free_port()
    server = _serve(tmp_path, keys, port, "serve")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server, tmp_path / "serve.log")
        yield base, port
    finally:
        _stop(server)


def _listeners(port: int, expected: int = 2) -> int:
    """Sockets listening (state 0A) on `port` of 127.0.0.1, from the kernel's table, once `expected` of
    them are there or 60 s have passed (a worker may still be starting when the first answers /readyz)."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + 60
    while True:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        found = sum(1 for line in lines if line.split()[1] == wanted and line.split()[3] == "0A")
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_each_worker_listens_on_its_own_socket_and_connections_opened_together_reach_both(
    two_workers: tuple[str, int], keys: Keys
) -> None:
    base, port = two_workers
    assert _listeners(port) == 2
    token = keys.auth("authz:evaluate")
    clients = [httpx.Client(base_url=base, headers=token) for _ in range(16)]
    try:
        for client in clients:  # every connection open before any is used, as a pool opens them
            assert client.get("/healthz").status_code == 200
        statuses: list[int] = []

        def use(client: httpx.Client) -> None:
            statuses.extend(client.post("/access/v1/evaluation", json=BODY).status_code for _ in range(5))

        threads = [threading.Thread(target=use, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    assert statuses == [200] * 80
    rows_by_worker: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(rows_by_worker) < 2 and time.monotonic() < deadline:  # whichever worker answers the scrape
        for family in text_string_to_metric_families(httpx.get(base + "/metrics").text):
            for sample in family.samples:
                if sample.name == "clearance_gateway_log_rows_committed_total":
                    rows_by_worker[sample.labels["pid"]] = sample.value
    assert len(rows_by_worker) == 2 and all(rows_by_worker.values()), rows_by_worker  # both decided some
    assert sum(rows_by_worker.values()) == 80


def test_a_second_gateway_on_a_port_in_use_does_not_start(two_workers: tuple[str, int], tmp_path: Path,
                                                           keys: Keys) -> None:  # fmt: skip
    """Each worker's socket lets another of the same user bind the port too: serve checks first, so a
    forgotten gateway is never handed half the connections."""
    _, port = two_workers
    second = _serve(tmp_path, keys, port, "second")
    try:
        assert second.wait(timeout=60) == 1
    finally:
        _stop(second)
    assert f"Port {port} on 127.0.0.1 is already in use" in (tmp_path / "second.log").read_text()
    assert _listeners(port) == 2
