"""Prometheus metrics at /metrics (issue #6): what an operator's dashboard reads."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.rules_registry import rules_bundle
from tests.support import REPO, Gateway, Keys, free_port, serve_env, wait_until_ready

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
            samples[(sample.name, labels)] = samples.get((sample.name, labels), 0.0) + sample.value
    return samples


def metrics(gw: Gateway) -> Samples:
    response = gw.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return scrape(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    return gateway


def test_decisions_are_counted_by_result_and_every_denial_reason(registry: Gateway) -> None:
    before = metrics(registry)
    assert registry.codes("P-OK", "D-ESI") == []
    assert registry.codes("P-OK", "D-ESI") == []
    assert registry.codes("P-SUSP", "D-ESI") == ["clearance_suspended"]
    assert registry.codes("P-NOBODY", "D-NOTHING") == ["subject_unknown", "document_unknown"]
    after = metrics(registry)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("clearance_gateway_decisions_total", result="allow", channel="authzen") == 2
    assert moved("clearance_gateway_decisions_total", result="deny", channel="authzen") == 2
    assert moved("clearance_gateway_denial_reasons_total", code="clearance_suspended") == 1
    assert moved("clearance_gateway_denial_reasons_total", code="subject_unknown") == 1
    assert moved("clearance_gateway_denial_reasons_total", code="document_unknown") == 1
    assert moved("clearance_gateway_decide_seconds_count") == 4
    assert moved("clearance_gateway_log_write_seconds_count") == 4
    assert moved("clearance_gateway_log_commit_rows_sum") == 4
    assert moved("clearance_gateway_log_rows_committed_total") == 4


def test_request_latency_is_labelled_by_route_template_never_by_ids(registry: Gateway) -> None:
    before = metrics(registry)
    registry.client.get("/v1/documents/D-ESI/content", headers=registry.keys.auth("documents:read", sub="P-OK"))
    registry.codes("P-OK", "D-ESI")
    response = registry.client.get("/metrics")
    after = scrape(response.text)
    route = (
        "clearance_gateway_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/v1/documents/{document_id:path}/content"), ("status", "200")),
    )
    assert after[route] - before.get(route, 0) == 1
    evaluation = (
        "clearance_gateway_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/access/v1/evaluation"), ("status", "200")),
    )
    assert after[evaluation] - before.get(evaluation, 0) == 1
    assert value(after, "clearance_gateway_decisions_total", result="allow", channel="release") >= 1
    assert "D-ESI" not in response.text and "P-OK" not in response.text  # no ids, in labels or anywhere


def test_the_process_state_shows_policy_registry_and_caches(registry: Gateway) -> None:
    registry.codes("P-OK", "D-ESI")
    samples = metrics(registry)
    container = registry.container
    version = container.policies.current.version
    assert value(samples, "clearance_gateway_policy_info", version=version) == 1
    assert value(samples, "clearance_gateway_registry_version") == container.resolver._snapshot.version > 0
    assert value(samples, "clearance_gateway_registry_rebuilds_total") >= 1
    assert value(samples, "clearance_gateway_policy_uncached_evaluations_total") >= 1
    assert value(samples, "clearance_gateway_decision_memo_entries") >= 1  # the question just asked
    assert value(samples, "clearance_gateway_log_commits_total") >= 1
    # issue 13: a log writer that falls behind shows it (nothing is waiting here)
    assert value(samples, "clearance_gateway_log_queue_rows") == 0
    assert ("clearance_gateway_log_oldest_wait_seconds", ()) in samples
    listening = value(samples, "clearance_gateway_change_listener_up")
    assert listening == (1.0 if registry.settings.database_url.startswith("postgresql") else 0.0)


def test_a_log_that_cannot_be_written_is_counted_as_unavailable(registry: Gateway, monkeypatch) -> None:
    import sqlite3

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    before = value(metrics(registry), "clearance_gateway_unavailable_total", what="decision_log")
    monkeypatch.setattr(registry.container.decisions.log.sink, "append", broken)
    body = {
        "subject": {"type": "person", "id": "P-OK"},
        "resource": {"type": "document", "id": "D-ESI"},
        "action": {"name": "read"},
    }
    response = registry.client.post("/access/v1/evaluation", json=body, headers=registry.keys.auth("authz:evaluate"))
    assert response.status_code == 503
    assert value(metrics(registry), "clearance_gateway_unavailable_total", what="decision_log") == before + 1


@pytest.mark.slow
def test_with_several_workers_the_counters_are_summed_over_all_of_them(tmp_path: Path, keys: Keys) -> None:
    """`serve --workers 2`: whichever worker answers the scrape, the decision count is the total (a
    second after the last request at most: each worker applies its counts once a second)."""
    port = free_port()
    env = serve_env(tmp_path, keys)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server, tmp_path / "serve.log")
        body = {
            "subject": {"type": "person", "id": "P-1"},
            "resource": {"type": "document", "id": "D-1"},
            "action": {"name": "read"},
        }
        token = keys.auth("authz:evaluate")

        def evaluate(_: int) -> int:
            with httpx.Client() as client:  # a connection of its own: either worker may take it
                return client.post(base + "/access/v1/evaluation", json=body, headers=token).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(evaluate, range(60))) == {200}
        time.sleep(1.5)  # each worker applies what its requests recorded at least once a second
        rows_by_pid: dict[str, float] = {}
        totals = set()
        for _ in range(60):
            with httpx.Client() as client:
                scraped = client.get(base + "/metrics").text
            totals.add(value(scrape(scraped), "clearance_gateway_decisions_total", result="deny", channel="authzen"))
            for family in text_string_to_metric_families(scraped):
                for sample in family.samples:
                    if sample.name == "clearance_gateway_log_rows_committed_total":
                        rows_by_pid[sample.labels["pid"]] = sample.value
            if len(rows_by_pid) == 2:
                break
        assert totals == {60.0}  # whichever worker answered the scrape: the other's counts are applied too
        assert len(rows_by_pid) == 2 and all(rows_by_pid.values()), rows_by_pid  # both decided some
        assert sum(rows_by_pid.values()) == 60
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
