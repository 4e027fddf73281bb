"""The registry as it stood on any day: a change takes effect when it is made and never reaches back.

The gateway's clock stands at 2026-06-01T03:00Z (12:00 in Japan) unless a test moves it. A decision at
an instant in the past (context.time) rests on the facts in force at that instant, to the recording
instant of each change; an instant in the future, on today's registry.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.registry.past import registry_at
from tests.support import POLICY_DIR, Gateway

BEFORE_NOON = "2026-06-01T02:00:00+00:00"  # the same day, an hour before the changes below are made
LAST_MONTH = "2026-05-15T12:00:00+09:00"
LATER = "2026-06-01T05:00:00+00:00"


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
    policy, memo = registry.container.policies.current, registry.container.decisions.memo
    day = date(2026, 5, 15)
    first = memo.decide(snapshot, "P-OK", "D-ESI", "read", day, policy, at=datetime(2026, 5, 15, 3, tzinfo=UTC))
    second = memo.decide(snapshot, "P-OK", "D-ESI", "read", day, policy, at=datetime(2026, 5, 15, 9, tzinfo=UTC))
    assert first is second and first[1].allowed
    now = memo.decide(snapshot, "P-OK", "D-ESI", "read", date(2026, 6, 1), policy)
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


def test_the_whole_registry_rewound_to_an_instant_gives_each_pair_its_facts_at_that_instant(registry: Gateway) -> None:
    """`policy diff --at` and other whole-registry reports rewind every record at once (past.py); for
    every pair that must equal rewinding the pair alone, at every instant before and after each change."""
    instants = []
    for clock, method, path, body in STEPS:
        registry.clock.set(clock.replace(":00:00+00:00", ":10:00+00:00"))
        admin(registry, method, path, body)
        instants += [datetime.fromisoformat(clock), datetime.fromisoformat(clock.replace(":00:00", ":30:00"))]
    snapshot = registry.container.resolver.current()
    persons, documents = sorted(snapshot.persons), sorted(snapshot.documents)
    for at in [datetime.fromisoformat(LAST_MONTH), *instants]:
        past = registry_at(snapshot, at)
        assert past.history.instants == () or (past is snapshot and at > instants[-2])  # after the last change
        for person in persons:
            for document in documents:
                assert past.facts(person, document) == snapshot.facts(person, document, at), (at, person, document)
    assert registry_at(snapshot, datetime(2030, 1, 1, tzinfo=UTC)) is snapshot  # the future: today's registry


def test_policy_diff_and_eval_at_a_past_instant_use_the_registry_as_it_stood(registry: Gateway, tmp_path: Path) -> None:
    """Issue 14: the diff over the whole registry at a chosen instant, on the registry's history."""
    admin(registry, "DELETE", "/rosters/G-ESI/P-OK")  # today, 12:00 in Japan
    candidate = tmp_path / "candidate"
    shutil.copytree(POLICY_DIR, candidate, ignore=shutil.ignore_patterns("examples", "tests"))
    requirements = candidate / "requirements.csv"
    rows = [r for r in requirements.read_text().splitlines(keepends=True) if not r.rstrip().endswith("not_on_roster")]
    requirements.write_text("".join(rows))
    env = {"GATEWAY_DATABASE_URL": registry.settings.database_url, "GATEWAY_POLICY_DIR": str(POLICY_DIR)}

    def widening(at: str) -> int:
        args = ["policy", "diff", "--candidate", str(candidate), "--at", at, "--json"]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        return int(json.loads(result.output)["registry"]["widening"])

    # P-OK left G-ESI's roster at noon: after it, deleting the roster rule opens D-ESI to one more person
    assert widening("2026-06-01T13:00:00+09:00") > widening(LAST_MONTH) == widening("2026-06-01T11:00:00+09:00")
    now = CliRunner().invoke(cli, ["policy", "eval", "P-OK", "D-ESI", "--at", "2026-06-01T13:00:00+09:00"], env=env)
    then = CliRunner().invoke(cli, ["policy", "eval", "P-OK", "D-ESI", "--at", LAST_MONTH], env=env)
    assert now.stdout.startswith("DENY") and "not_on_roster" in now.stdout, now.output
    assert then.stdout.startswith("ALLOW"), then.output
