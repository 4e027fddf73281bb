"""The registry as it stood on any day: a change takes effect when it is made and never reaches back.

The gateway's clock stands at 2026-06-01T03:00Z (12:00 in Japan) unless a test moves it. A decision at
an instant in the past (context.time) rests on the facts in force at that instant, to the recording
instant of each change; an instant in the future, on today's registry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.rules_registry import rules_bundle
from tests.support import Gateway

BEFORE_NOON = "2026-06-01T02:00:00+00:00"  # the same day, an hour before the changes below are made
LAST_MONTH = "2026-05-15T12:00:00+09:00"
LATER = "2026-06-01T05:00:00+00:00"


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    return gateway


def admin(gw: Gateway, method: str, path: str, body: Any = None) -> Any:
    response = gw.client.request(method, "/v1/admin" + path, json=body, headers=gw.keys.auth("registry:admin"))
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_c7_a_suspension_made_today_does_not_change_a_decision_about_last_month(registry: Gateway) -> None:
    admin(registry, "POST", "/assessments/A-OK/suspend")
    assert registry.codes("P-OK", "D-ESI") == ["clearance_suspended"]
    assert registry.codes("P-OK", "D-ESI", at=LAST_MONTH) == []
    assert registry.codes("P-OK", "D-ESI", at=BEFORE_NOON) == []  # the recording instant counts, not its day
    assert registry.codes("P-OK", "D-ESI", at="2030-01-01T00:00:00+09:00") == ["clearance_suspended"]  # future

    registry.clock.set(LATER)
    admin(registry, "POST", "/assessments/A-OK/reinstate")
    assert registry.codes("P-OK", "D-ESI") == []
    assert registry.codes("P-OK", "D-ESI", at="2026-06-01T04:00:00+00:00") == ["clearance_suspended"]
    assert registry.codes("P-OK", "D-ESI", at=BEFORE_NOON) == []


def test_c7_an_assessment_record_shows_its_dated_status_periods(registry: Gateway) -> None:
    admin(registry, "POST", "/assessments/A-OK/suspend")
    record = admin(registry, "GET", "/assessments/A-OK")
    assert [(p["status"], p["from"]) for p in record["status_history"]] == [
        ("active", "2025-06-01"),
        ("suspended", "2026-06-01"),
    ]
    assert record["status_history"][1]["recorded_at"] == "2026-06-01T03:00:00Z"


def test_b3_a_certification_revoked_today_leaves_the_past_as_it_was(registry: Gateway) -> None:
    admin(registry, "POST", "/certifications/CERT-ACME/revoke")
    assert registry.codes("C-OK", "D-ESI") == ["employer_not_certified"]
    assert registry.codes("C-OK", "D-ESI", at=LAST_MONTH) == []


def test_n1_a_removal_ends_the_roster_entry_and_the_entry_stays(registry: Gateway) -> None:
    admin(registry, "DELETE", "/rosters/G-ESI/P-OK")
    assert registry.codes("P-OK", "D-ESI") == ["not_on_roster"]
    assert registry.codes("P-OK", "D-ESI", at=LAST_MONTH) == []
    assert registry.codes("P-OK", "D-ESI", at=BEFORE_NOON) == []  # earlier that day it was still in force
    listed = admin(registry, "GET", "/rosters?designation=G-ESI&person=P-OK")["items"]
    assert listed == [{"designation_id": "G-ESI", "person_id": "P-OK", "from": "2025-06-01", "until": "2026-05-31"}]

    registry.clock.set("2026-07-01T03:00:00+00:00")
    assert admin(registry, "PUT", "/rosters/G-ESI/P-OK") == {
        "designation_id": "G-ESI",
        "person_id": "P-OK",
        "from": "2026-07-01",
        "until": None,
    }
    periods = admin(registry, "GET", "/rosters?designation=G-ESI&person=P-OK")["items"]
    assert [(p["from"], p["until"]) for p in periods] == [("2025-06-01", "2026-05-31"), ("2026-07-01", None)]
    assert registry.codes("P-OK", "D-ESI") == []
    assert registry.codes("P-OK", "D-ESI", at="2026-06-15T12:00:00+09:00") == ["not_on_roster"]  # the gap
    assert registry.codes("P-OK", "D-ESI", at=LAST_MONTH) == []


def test_b1_a_contract_ended_early_today_does_not_reach_back(registry: Gateway) -> None:
    contract = admin(registry, "GET", "/contracts/K-ACME")
    admin(registry, "PUT", "/contracts/K-ACME", {**contract, "ends_on": "2026-05-10"})
    assert registry.codes("C-OK", "D-ESI") == ["contract_not_in_force"]
    assert registry.codes("C-OK", "D-ESI", at=LAST_MONTH) == []  # the contract as it stood then ran to 2027


def test_d3_a_cancellation_recorded_at_noon_leaves_the_morning_as_it_was(registry: Gateway) -> None:
    admin(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-06-01"})
    assert registry.codes("P-OK", "D-ESI") == ["designation_not_in_force"]
    assert registry.codes("P-OK", "D-ESI", at=BEFORE_NOON) == []
    assert registry.codes("P-OK", "D-ESI", at=LATER) == ["designation_not_in_force"]


def test_c2_a_record_imported_today_counts_from_its_own_dates(registry: Gateway) -> None:
    assert registry.codes("P-NONE", "D-ESI", at="2025-07-01T12:00:00+09:00") == ["clearance_missing"]
    assessment = {
        "id": "A-LATE",
        "person_id": "P-NONE",
        "organ_id": "METI",
        "scheme": "esi",
        "result": "favourable",
        "notified_on": "2025-06-01",
    }
    registry.import_bundle({"assessments": [assessment]})
    assert registry.codes("P-NONE", "D-ESI", at="2025-07-01T12:00:00+09:00") == []
    assert registry.codes("P-NONE", "D-ESI") == []


def test_a_past_instant_is_memoized_like_the_present(registry: Gateway) -> None:
    """The facts at an instant depend only on the changes recorded before it: one memo entry serves
    every instant between two changes."""
    admin(registry, "POST", "/assessments/A-OK/suspend")
    snapshot = registry.container.resolver.current()
    policy = registry.container.policies.current
    day = date(2026, 5, 15)
    first = snapshot.decide("P-OK", "D-ESI", "read", day, policy, at=datetime(2026, 5, 15, 3, tzinfo=UTC))
    second = snapshot.decide("P-OK", "D-ESI", "read", day, policy, at=datetime(2026, 5, 15, 9, tzinfo=UTC))
    assert first is second and first[1].allowed
    now = snapshot.decide("P-OK", "D-ESI", "read", date(2026, 6, 1), policy)
    assert not now[1].allowed and now[1].codes == ("clearance_suspended",)


STEPS: list[tuple[str, str, str, Any]] = [  # (hour, method, path, body): a change at ten past the hour
    ("2026-06-01T03:00:00+00:00", "POST", "/assessments/A-OK/suspend", None),
    ("2026-06-01T04:00:00+00:00", "DELETE", "/rosters/G-SDS/P-OK", None),
    ("2026-06-03T01:00:00+00:00", "POST", "/assessments/A-OK/reinstate", None),
    ("2026-06-03T02:00:00+00:00", "POST", "/certifications/CERT-ACME/suspend", None),
    ("2026-06-05T00:00:00+00:00", "PUT", "/rosters/G-SDS/P-OK", None),
    ("2026-06-05T01:00:00+00:00", "POST", "/certifications/CERT-ACME/reinstate", None),
    ("2026-06-06T00:00:00+00:00", "DELETE", "/rosters/G-ESI/C-OK", None),
    ("2026-06-08T00:00:00+00:00", "POST", "/designations/G-SDS/cancel", {"cancelled_on": "2026-06-08"}),
    ("2026-06-09T00:00:00+00:00", "POST", "/assessments/A-OK/revoke", None),
]
PAIRS = [("P-OK", "D-ESI"), ("P-OK", "D-SDS"), ("C-OK", "D-ESI"), ("C-OK", "D-SDS"), ("P-SDS", "D-SDS")]


def test_the_past_never_changes_a_decision_about_an_instant_is_the_one_made_then(registry: Gateway) -> None:
    """After every kind of change, asking about an earlier instant gives what was answered at that instant."""
    answered: dict[str, dict[tuple[str, str], list[str]]] = {}
    for clock, method, path, body in STEPS:
        registry.clock.set(clock)
        answered[clock] = {pair: registry.codes(*pair) for pair in PAIRS}  # ten minutes before the change
        registry.clock.set(clock.replace(":00:00+00:00", ":10:00+00:00"))
        admin(registry, method, path, body)
        later = clock.replace(":00:00+00:00", ":30:00+00:00")
        registry.clock.set(later)
        answered[later] = {pair: registry.codes(*pair) for pair in PAIRS}
    registry.clock.set("2026-07-01T00:00:00+00:00")
    for instant, decisions in answered.items():
        assert {pair: registry.codes(*pair, at=instant) for pair in PAIRS} == decisions, instant
