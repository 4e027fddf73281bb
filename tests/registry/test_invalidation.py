"""Replicas that agree (issue #6): a change made through one gateway reaches another's decisions.

Two gateways share one database here, each with its own engine, caches and (on PostgreSQL) its own
LISTEN connection, as two hosts would. The cross-process figures (p50/p99 between real `serve`
processes) are measured by tests/production/test_propagation.py.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Clock, Gateway, Keys, fresh_database, running_gateway

ADMIN = {"scope": "registry:admin"}


def wait_for(condition: Callable[[], Any], within: float, step: float = 0.005) -> float:
    """Seconds until `condition()` held; fails the test after `within` seconds."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > within:
            pytest.fail(f"not within {within} s")
        time.sleep(step)
    return time.perf_counter() - started


def admin(gw: Gateway, method: str, path: str, body: Any = None) -> Any:
    response = gw.client.request(method, "/v1/admin" + path, json=body, headers=gw.keys.auth("registry:admin"))
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path) as url:
        yield url


def pair(url: str, tmp_path: Path, keys: Keys, clock: Clock, **overrides: Any) -> Any:
    """Two gateways on one database; the first loads the registry."""
    from contextlib import ExitStack

    stack = ExitStack()
    first = stack.enter_context(running_gateway(url, tmp_path / "a", keys, clock, **overrides))
    second = stack.enter_context(running_gateway(url, tmp_path / "b", keys, clock, **overrides))
    first.import_bundle(rules_bundle())
    return stack, first, second


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path, keys: Keys, clock: Clock) -> Iterator[tuple[Gateway, Gateway]]:
    # A backstop of a minute: whatever reaches the second replica within a second came by notification.
    stack, first, second = pair(pg_url, tmp_path, keys, clock, cache_max_age_seconds=60)
    with stack:
        wait_for(lambda: second.container.resolver.listening and first.container.resolver.listening, within=5)
        yield first, second


CHANGES = [
    ("suspend an assessment", "P-OK", "D-ESI", "POST", "/assessments/A-OK/suspend", None, "clearance_suspended"),
    ("revoke an assessment", "P-OK", "D-ESI", "POST", "/assessments/A-OK/revoke", None, "clearance_revoked"),
    ("take off a roster", "P-OK", "D-ESI", "DELETE", "/rosters/G-ESI/P-OK", None, "not_on_roster"),
    (
        "suspend a certification",
        "C-OK",
        "D-ESI",
        "POST",
        "/certifications/CERT-ACME/suspend",
        None,
        "employer_not_certified",
    ),
    (
        "cancel a designation",
        "P-OK",
        "D-ESI",
        "POST",
        "/designations/G-ESI/cancel",
        {"cancelled_on": "2026-06-01"},
        "designation_not_in_force",
    ),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("what", "person", "document", "method", "path", "body", "code"), CHANGES, ids=[c[0] for c in CHANGES]
)
def test_a_change_through_one_replica_denies_on_the_other_within_a_second(
    replicas: tuple[Gateway, Gateway],
    what: str,
    person: str,
    document: str,
    method: str,
    path: str,
    body: Any,
    code: str,
) -> None:
    first, second = replicas
    assert second.codes(person, document) == []
    checks_before = second.container.resolver.checks
    admin(first, method, path, body)
    took = wait_for(lambda: code in second.codes(person, document), within=1.0)
    assert took < 1.0
    assert second.container.resolver.listening  # it came by notification, not by checking every decision
    assert second.container.resolver.checks > checks_before


@pytest.mark.postgres
def test_a_replica_answers_from_its_cache_until_told(replicas: tuple[Gateway, Gateway]) -> None:
    _, second = replicas
    second.codes("P-OK", "D-ESI")
    checks, hits = second.container.resolver.checks, second.container.resolver.hits
    for _ in range(20):
        assert second.codes("P-OK", "D-ESI") == []
    assert second.container.resolver.checks == checks  # no database read for the registry
    assert second.container.resolver.hits >= hits + 20


@pytest.mark.postgres
def test_a_replica_reads_its_own_writes_at_once(replicas: tuple[Gateway, Gateway]) -> None:
    first, _ = replicas
    for _ in range(5):
        admin(first, "POST", "/assessments/A-OK/suspend")
        assert first.codes("P-OK", "D-ESI") == ["clearance_suspended"]
        admin(first, "POST", "/assessments/A-OK/reinstate")
        assert first.codes("P-OK", "D-ESI") == []


@pytest.mark.postgres
def test_a_lost_notification_costs_at_most_the_cache_lifetime(
    pg_url: str, tmp_path: Path, keys: Keys, clock: Clock
) -> None:
    stack, first, second = pair(pg_url, tmp_path, keys, clock, cache_max_age_seconds=0.3)
    with stack:
        wait_for(lambda: second.container.resolver.listening, within=5)
        second.container.listener.on_change = lambda entities: None  # every notification is lost
        assert second.codes("P-OK", "D-ESI") == []
        admin(first, "POST", "/assessments/A-OK/suspend")
        took = wait_for(lambda: second.codes("P-OK", "D-ESI") == ["clearance_suspended"], within=1.0)
        assert took < 0.3 + 0.5  # the lifetime, plus a request or two on a busy machine
        assert second.container.listener.notifications >= 1  # it was announced, and dropped
        assert second.container.resolver.listening


@pytest.mark.postgres
def test_without_a_listener_every_decision_checks_and_the_listener_comes_back(
    replicas: tuple[Gateway, Gateway], pg_url: str
) -> None:
    first, second = replicas
    database = pg_url.rsplit("/", 1)[1]
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND application_name = 'clearance-gateway listener'"
            ),
            {"db": database},
        ).scalar_one()
    engine.dispose()
    assert killed == 2
    wait_for(lambda: not second.container.resolver.listening, within=3)
    admin(first, "POST", "/assessments/A-OK/suspend")
    assert second.codes("P-OK", "D-ESI") == ["clearance_suspended"]  # no listener: it checked
    wait_for(lambda: second.container.resolver.listening, within=5)
    assert second.container.listener.reconnects >= 1
    admin(first, "POST", "/assessments/A-OK/reinstate")
    wait_for(lambda: second.codes("P-OK", "D-ESI") == [], within=1.0)


@pytest.mark.postgres
def test_a_policy_reload_on_one_replica_reaches_the_other(
    pg_url: str, tmp_path: Path, keys: Keys, clock: Clock
) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, policy, ignore=shutil.ignore_patterns("tests"))
    # No file watching: only the notification can make the second replica look at the files.
    stack, first, second = pair(pg_url, tmp_path, keys, clock, policy_dir=policy, policy_watch_seconds=0)
    with stack:
        wait_for(lambda: second.container.resolver.listening, within=5)
        assert second.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]
        requirements = policy / "requirements.csv"
        requirements.write_text(
            "\n".join(line for line in requirements.read_text().splitlines() if not line.endswith("not_on_roster"))
            + "\n"
        )
        response = first.client.post("/v1/admin/policy/reload", headers=keys.auth("policy:admin"))
        assert response.status_code == 200, response.text
        new_version = first.container.policies.current.version
        wait_for(lambda: second.container.policies.current.version == new_version, within=1.0)
        answer = second.evaluate("P-NOROSTER", "D-ESI")
        assert answer["decision"] is True
        assert answer["context"]["policy_version"] == new_version


def test_on_sqlite_every_decision_checks_so_a_change_shows_at_once(tmp_path: Path, keys: Keys, clock: Clock) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        stack, first, second = pair(url, tmp_path, keys, clock)
        with stack:
            assert second.container.listener is None and not second.container.resolver.listening
            assert second.codes("P-OK", "D-ESI") == []
            admin(first, "POST", "/assessments/A-OK/suspend")
            assert second.codes("P-OK", "D-ESI") == ["clearance_suspended"]
