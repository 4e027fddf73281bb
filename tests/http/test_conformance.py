"""The AuthZEN conformance suite (tests/conformance) in CI: every check against the ASGI app, on both
databases, with a pair the rules registry allows; and its command-line runner against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.checks import CHECKS, Target, run
from tests.rules_registry import rules_bundle
from tests.support import REPO, Gateway, Keys, free_port, serve_env, wait_until_ready


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
    port = free_port()
    env = serve_env(tmp_path, keys)
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server)
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
