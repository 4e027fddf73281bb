"""Search = { x : evaluation(x) is true }, at the same instant, over generated registries (hypothesis).

A search decides only some candidates (roster persons, one document per designation); these tests
show that whatever it skips an evaluation denies, for every rule: on the registry built to put each
rule of the domain at its edges (tests/rules_registry.py) on any day from 2025 to 2031, on synthetic
registries of every kind of fact (bench/generator.py), under the shipped policy and under one without
the roster requirement (where no person may be skipped), and for unknown ids.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generator import Shape, generate_bundle
from gateway.decision.policy import NO_CONTEXT, Policy
from gateway.decision.reach import roster_bound
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from gateway.registry.snapshot import RegistrySnapshot
from gateway.search import Finder, SearchQuery
from gateway.service_memo import DecisionMemo
from models.bundle import Bundle
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR

ZONE = ZoneInfo("Asia/Tokyo")
UNKNOWN_PERSON, UNKNOWN_DOCUMENT = "P-NOBODY", "DOC-NOTHING"


@cache
def policies() -> dict[str, Policy]:
    shipped = load_policy(POLICY_DIR)
    loose_dir = Path(tempfile.mkdtemp(prefix="cg-policy-without-roster-")) / "policy"  # one per worker
    shutil.copytree(POLICY_DIR, loose_dir, ignore=shutil.ignore_patterns("tests", "examples"))
    requirements = loose_dir / "requirements.csv"
    rows = [line for line in requirements.read_text().splitlines() if "not_on_roster" not in line]
    requirements.write_text("\n".join(rows) + "\n")
    try:
        loose = load_policy(loose_dir)
    finally:
        shutil.rmtree(loose_dir.parent, ignore_errors=True)
    return {"shipped": shipped, "without roster": loose}


def test_the_roster_bound_holds_for_the_shipped_policy_only() -> None:
    assert roster_bound(policies()["shipped"], "read", NO_CONTEXT) is True
    assert roster_bound(policies()["without roster"], "read", NO_CONTEXT) is False


def _service() -> Finder:
    return Finder(ZONE)


def _agrees(snapshot: RegistrySnapshot, policy: Policy, at: datetime) -> int:
    """Every subject and resource search equals the evaluations of every pair; returns the allows."""
    service, day, memo = _service(), at.astimezone(ZONE).date(), DecisionMemo()
    persons = sorted(snapshot.persons) + [UNKNOWN_PERSON]
    documents = sorted(snapshot.documents) + [UNKNOWN_DOCUMENT]
    allowed = {
        (p, d)
        for p in persons
        for d in documents
        if memo.decide(snapshot, p, d, "read", day, policy, NO_CONTEXT)[1].allowed  # the evaluation's own path
    }

    def found(kind: str, person: str | None, document: str | None) -> list[str]:
        query = SearchQuery(kind, "person", person, "document", document, "read", None, None)  # type: ignore[arg-type]
        return list(service.allowed(snapshot, policy, query, None, at))

    for document in documents:
        assert found("subject", None, document) == sorted(p for p in persons if (p, document) in allowed), document
    for person in persons:
        assert found("resource", person, None) == sorted(d for d in documents if (person, d) in allowed), person
    for person, document in [(p, d) for p in persons[:5] for d in documents[:10]]:
        query = SearchQuery("action", "person", person, "document", document, None, None, None)
        expected = ["read"] if (person, document) in allowed else []
        assert list(service.allowed(snapshot, policy, query, None, at)) == expected
    return len(allowed)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    day=st.dates(min_value=date(2025, 5, 16), max_value=date(2031, 12, 31)),
    policy=st.sampled_from(["shipped", "without roster"]),
)
def test_search_agrees_with_evaluation_on_every_rule_at_any_day(day: date, policy: str) -> None:
    snapshot = snapshot_from_bundle(Bundle.model_validate(rules_bundle()))
    _agrees(snapshot, policies()[policy], datetime(day.year, day.month, day.day, 3, tzinfo=UTC))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    persons=st.integers(30, 90),
    offset=st.integers(-400, 400),
    policy=st.sampled_from(["shipped", "without roster"]),
)
def test_search_agrees_with_evaluation_on_generated_registries(
    seed: int, persons: int, offset: int, policy: str
) -> None:
    today = date(2026, 12, 4)
    bundle = generate_bundle(Shape.for_persons(persons, designations=max(10, persons // 4)), today, seed=seed)
    snapshot = snapshot_from_bundle(Bundle.model_validate(bundle))
    day = today + timedelta(days=offset)
    allows = _agrees(snapshot, policies()[policy], datetime(day.year, day.month, day.day, 3, tzinfo=UTC))
    assert allows > 0
