"""Administrators' policy tools: YAML suites, check, diff, and live reload (also across workers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, REPO, Gateway, Keys, free_port, serve_env, wait_until_ready

runner = CliRunner()


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target)
    return target


def test_the_shipped_suites_pass_and_cover_every_reason_code() -> None:
    result = runner.invoke(app, ["policy", "test", str(POLICY_DIR)])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
    text = "".join(p.read_text() for p in (POLICY_DIR / "tests").glob("*.yaml"))
    from gateway.decision.reasons import REASON_CODES

    assert all(code in text for code in REASON_CODES)


def test_a_failing_case_says_what_was_expected_and_writes_junit(policy_copy: Path, tmp_path: Path) -> None:
    # the conservative reading of C3 breaks the anniversary case of validity.yaml
    path = policy_copy / "clearance.csv"
    path.write_text(path.read_text().replace("p2, esi, 10, anniversary", "p2, esi, 10, eve_of_anniversary"))
    junit = tmp_path / "junit.xml"
    result = runner.invoke(app, ["policy", "test", str(policy_copy), "--junit", str(junit)])
    assert result.exit_code == 1
    assert "FAIL C3: ESI notified 2025-06-01 valid through 2035-06-01" in result.output
    assert "expected: allow" in result.output and "got:      deny clearance_expired" in result.output
    suites = ET.parse(junit).getroot()
    failures = [c.get("name") for c in suites.iter("testcase") if c.find("failure") is not None]
    assert "C3: ESI notified 2025-06-01 valid through 2035-06-01" in failures


def test_a_suite_that_cannot_load_is_a_failure(policy_copy: Path) -> None:
    (policy_copy / "tests" / "broken.yaml").write_text("suite: x\ncases:\n  - name: no time\n    subject: P\n")
    result = runner.invoke(app, ["policy", "test", str(policy_copy)])
    assert result.exit_code == 1
    assert "cannot run" in result.output


def test_a_suite_whose_with_repeats_a_shared_id_cannot_run(policy_copy: Path) -> None:
    """`with:` adds entries to the shared registry; an entry with a shared id would silently stand in
    for it (a fixture bug the C5a suite once had), so the suite is refused and says which id."""
    (policy_copy / "tests" / "twice.yaml").write_text(
        "suite: x\nregistry: registry.yaml\nwith:\n  assessments:\n"
        "  - {id: A-OK, person_id: P-OK, organ_id: METI, scheme: esi, result: favourable,"
        " notified_on: '2025-07-01', status: active}\ncases: []\n"
    )
    result = runner.invoke(app, ["policy", "test", str(policy_copy)])
    assert result.exit_code == 1
    assert "cannot run" in result.output and "A-OK appear more than once" in result.output


def test_check_names_file_and_line_and_dead_rules(policy_copy: Path) -> None:
    assert runner.invoke(app, ["policy", "check", str(policy_copy)]).exit_code == 0
    path = policy_copy / "requirements.csv"
    path.write_text(path.read_text() + "p, deny, *, r.obj.classified && !r.obj.classified, not_on_roster\n")
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert result.exit_code == 0
    assert "warning requirements.csv:" in result.output and "can never match" in result.output
    path.write_text(path.read_text() + "p, deny, *, r.sub.shoe_size > 40, not_on_roster\n")
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert result.exit_code == 1
    assert "unknown attribute `r.sub.shoe_size`" in result.output


def test_check_warns_when_a_reason_code_has_no_rule(policy_copy: Path) -> None:
    path = policy_copy / "requirements.csv"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "clearance_revoked" not in line))
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert "no deny row produces clearance_revoked" in result.output


def test_diff_lists_exactly_the_decisions_that_relied_on_the_bridge(gateway: Gateway, policy_copy: Path) -> None:
    gateway.import_bundle(rules_bundle())
    at = "2026-06-01T12:00:00+09:00"
    bridged = [gateway.evaluate("P-SDS", "D-ESI", at=at)["context"]["decision_id"] for _ in range(2)]
    for person, document in [("P-OK", "D-ESI"), ("P-SDS", "D-SDS"), ("P-OK", "D-SDS"), ("C-OK", "D-ESI")]:
        gateway.evaluate(person, document, at=at)
    path = policy_copy / "clearance.csv"
    path.write_text(path.read_text().replace("g, sds, esi\n", ""))
    env = {"GATEWAY_DATABASE_URL": gateway.settings.database_url, "GATEWAY_TIMEZONE": "Asia/Tokyo"}
    result = runner.invoke(app, ["policy", "diff", "--candidate", str(policy_copy), "--simulations", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["replay"]
    assert report["replayed"] == 6 and report["widening"] == 0
    assert sorted(d["decision_id"] for d in report["decisions"]) == sorted(bridged)
    assert report["groups"] == [
        {
            "kind": "narrows",
            "was": {"decision": "allow", "reasons": []},
            "now": {"decision": "deny", "reasons": ["clearance_insufficient"]},
            "count": 2,
        }
    ]
    reverse = runner.invoke(app, ["policy", "diff", "--candidate", str(POLICY_DIR), "--simulations"], env=env)
    assert "0 would flip" in reverse.output


def test_diff_marks_widening(gateway: Gateway, policy_copy: Path) -> None:
    gateway.import_bundle(rules_bundle())
    gateway.evaluate("P-NOROSTER", "D-ESI", at="2026-06-01T12:00:00+09:00")
    path = policy_copy / "requirements.csv"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "not_on_roster" not in line))
    env = {"GATEWAY_DATABASE_URL": gateway.settings.database_url}
    result = runner.invoke(
        app, ["policy", "diff", "--candidate", str(policy_copy), "--simulations", "--fail-on-widening"], env=env
    )
    assert result.exit_code == 3
    assert "WIDENS ACCESS" in result.output


def test_reload_refuses_a_broken_policy_and_keeps_serving(gateway: Gateway, tmp_path: Path) -> None:
    """Through the API, on the gateway under test (whose policy folder is a copy we edit)."""
    gateway.import_bundle(rules_bundle())
    holder = gateway.container.policies
    directory = tmp_path / "live"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("tests"))  # untested: no gate
    holder.directory = directory
    running = holder.current.version
    (directory / "requirements.csv").write_text(
        (directory / "requirements.csv").read_text() + "p, deny, *, r.sub.(, x\n"
    )
    response = gateway.client.post("/v1/admin/policy/reload", headers=gateway.keys.auth("policy:admin"))
    assert response.status_code == 422
    assert any(e["pointer"].startswith("/requirements.csv/") for e in response.json()["errors"])
    assert gateway.evaluate("P-OK", "D-ESI", at="2026-06-01T12:00:00+09:00")["context"]["policy_version"] == running
    info = gateway.client.get("/v1/admin/policy", headers=gateway.keys.auth("policy:admin")).json()
    assert info["version"] == running and info["refused"]["problems"]
    shutil.copy(POLICY_DIR / "requirements.csv", directory / "requirements.csv")
    (directory / "clearance.csv").write_text((directory / "clearance.csv").read_text().replace("g, sds, esi\n", ""))
    swapped = gateway.client.post("/v1/admin/policy/reload", headers=gateway.keys.auth("policy:admin")).json()
    assert swapped["version"] != running  # swapped by this request or, a moment earlier, by the watcher
    assert gateway.codes("P-SDS", "D-ESI", at="2026-06-01T12:00:00+09:00") == ["clearance_insufficient"]
    assert (
        gateway.client.post("/v1/admin/policy/reload", headers=gateway.keys.auth("registry:admin")).status_code == 403
    )


@pytest.mark.slow
def test_every_worker_serves_a_new_policy_within_a_second(tmp_path: Path, keys: Keys) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, policy, ignore=shutil.ignore_patterns("tests"))  # closing the bridge fails them
    port = free_port()
    env = serve_env(tmp_path, keys, GATEWAY_POLICY_DIR=str(policy))
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    headers = keys.auth("policy:admin")
    url = f"http://127.0.0.1:{port}/v1/admin/policy"
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", server)  # the writer and both workers start (90 s at most)
        deadline = time.monotonic() + 60  # the second worker may answer later than the first
        pids: dict[int, str] = {}
        while time.monotonic() < deadline and len(pids) < 2:
            try:
                body = httpx.get(url, headers=headers | {"Connection": "close"}, timeout=2).json()
                pids[body["worker_pid"]] = body["version"]
            except httpx.HTTPError:
                time.sleep(0.2)
        assert len(pids) == 2, "both workers should answer"
        old = next(iter(pids.values()))
        (policy / "clearance.csv").write_text((policy / "clearance.csv").read_text().replace("g, sds, esi\n", ""))
        reloaded = httpx.post(f"http://127.0.0.1:{port}/v1/admin/policy/reload", headers=headers, timeout=5).json()
        new = reloaded["version"]
        assert new != old
        changed_at = time.monotonic()
        seen: dict[int, float] = {}
        while time.monotonic() - changed_at < 3 and len(seen) < 2:
            body = httpx.get(url, headers=headers | {"Connection": "close"}, timeout=2).json()
            if body["version"] == new:
                seen.setdefault(body["worker_pid"], time.monotonic() - changed_at)
            else:
                seen.pop(body["worker_pid"], None)
        assert len(seen) == 2, f"only {seen} serve the new version"
        assert max(seen.values()) < 1.0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
