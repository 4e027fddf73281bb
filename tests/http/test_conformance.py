"""The AuthZEN conformance suite (tests/conformance) in CI: every check against the ASGI app, on both
databases, with a pair the rules registry allows; and its command-line runner against a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conformance.checks import CHECKS, Target, run
from tests.rules_registry import rules_bundle
from tests.support import AUDIENCE, ISSUER, POLICY_DIR, REPO, Gateway, Keys


@pytest.fixture
def target(gateway: Gateway) -> Target:
    gateway.import_bundle(rules_bundle())
    token, search = gateway.keys.token("authz:evaluate"), gateway.keys.token("authz:search")
    return Target(gateway.client, token, "http://testserver", ("P-OK", "D-ESI"), search_token=search)


@pytest.mark.parametrize(("section", "statement", "function"), CHECKS, ids=[f"{c[0]}: {c[1]}" for c in CHECKS])
def test_authzen(target: Target, section: str, statement: str, function: object) -> None:
    function(target)  # type: ignore[operator]


def test_the_runner_reports_every_check(target: Target) -> None:
    results = run(target)
    assert [r[2] for r in results] == ["PASS"] * len(CHECKS), [r for r in results if r[2] != "PASS"]


def test_the_runner_checks_a_live_server_and_prints_a_table(tmp_path: Path, keys: Keys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_JWKS_FILE": str(keys.jwks_file),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_POLICY_DIR": str(POLICY_DIR),
        "GATEWAY_DOCUMENT_DIR": str(tmp_path / "documents"),
        "GATEWAY_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DEV_MODE": "true",  # a development checkpoint key, asked for
    }
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
        done = subprocess.run(
            [sys.executable, "-m", "tests.conformance", "--base-url", base, "--token", keys.token("authz:evaluate"),
             "--search-token", keys.token("authz:search")],
            cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "160"},
        )
    finally:
        server.terminate()
        server.wait(30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AuthZEN 1.0 conformance of" in done.stdout and "FAIL" not in done.stdout
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed or skipped; 0 failed" in done.stdout
    assert "SKIP" in done.stdout  # no --allow pair: the permit check says why it did not run
