"""Access reviews: who may read, who on the roster may not and why, who loses access within N days
and why, what one person may read; at now and at a past instant; C9 and the scopes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generator import Shape, generate_bundle
from gateway.decision.engine import decide
from gateway.decision.horizon import first_loss
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from models.bundle import Bundle
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway

LAST_MONTH = "2026-05-15T12:00:00+09:00"


def get(gw: Gateway, path: str, scope: str = "audit:read", status: int = 200, **params: Any) -> Any:
    response = gw.client.get(f"/v1/access/{path}", params=params, headers=gw.keys.auth(scope))
    assert response.status_code == status, response.text
    return response.json()


def people(lines: list[dict[str, Any]]) -> list[str]:
    return [line["person"] for line in lines]


def test_a_review_lists_who_may_read_exactly_as_evaluations_decide(registry: Gateway) -> None:
    review = get(registry, "review", document="D-ESI")
    persons = sorted(p["id"] for p in rules_bundle()["persons"])
    assert people(review["may_read"]) == [p for p in persons if registry.evaluate(p, "D-ESI")["decision"]]
    assert review["designation"] == "G-ESI" and review["organ"] == "METI" and review["in_force"] is True
    by_designation = get(registry, "review", designation="G-ESI")
    assert people(by_designation["may_read"]) == people(review["may_read"])
    for line in review["may_read"]:
        assert line["reasons"] == [] and line["basis"]["designation"] == "G-ESI" and line["roster"]


def test_a_review_lists_everyone_on_the_roster_who_may_not_read_with_every_reason(registry: Gateway) -> None:
    review = get(registry, "review", designation="G-ESI")
    assert review["may_not"], "the rules registry puts people with every kind of denial on G-ESI's roster"
    for line in review["may_not"]:
        expected = [r["code"] for r in registry.evaluate(line["person"], "D-ESI")["context"]["reasons"]]
        assert [r["code"] for r in line["reasons"]] == expected != []
        assert line["roster"]  # on the roster today
    assert "P-NOROSTER" not in people(review["may_not"])  # off the roster: not this designation's concern
    assert review["counts"] == {
        "may_read": len(review["may_read"]),
        "may_not": len(review["may_not"]),
        "losing": len(review["losing"]),
    }


def test_who_loses_access_within_n_days_and_why(registry: Gateway) -> None:
    # G-ESI runs through 2030-05-31; ACME's contract K-ACME through 2027-06-30 (policy/tests/registry.yaml).
    soon = get(registry, "review", designation="G-ESI", within_days=30)
    assert soon["losing"] == []
    later = get(registry, "review", designation="G-ESI", within_days=400)
    losing = {line["person"]: line for line in later["losing"]}
    assert "C-OK" in losing
    assert losing["C-OK"]["loses_access_on"] == "2027-07-01"
    assert losing["C-OK"]["loss_causes"] == ["contract"]
    assert [r["code"] for r in losing["C-OK"]["loses_access_because"]] == ["contract_not_in_force"]
    # The day and the reasons are what an evaluation on that day gives.
    answer = registry.evaluate("C-OK", "D-ESI", at="2027-07-01T00:00:00+09:00")
    assert [r["code"] for r in answer["context"]["reasons"]] == ["contract_not_in_force"]
    assert registry.evaluate("C-OK", "D-ESI", at="2027-06-30T23:59:59+09:00")["decision"] is True
    all_of_them = get(registry, "review", designation="G-ESI", within_days=3660)
    assert {line["loss_causes"][0] for line in all_of_them["losing"]} >= {"contract", "designation"}


def test_a_review_at_a_past_instant_sees_the_registry_as_it_stood(registry: Gateway) -> None:
    response = registry.client.post("/v1/admin/assessments/A-OK/suspend", headers=registry.keys.auth("registry:admin"))
    assert response.status_code == 200
    now = get(registry, "review", designation="G-ESI")
    assert "P-OK" not in people(now["may_read"])
    assert [r["code"] for r in next(x for x in now["may_not"] if x["person"] == "P-OK")["reasons"]] == [
        "clearance_suspended"
    ]
    past = get(registry, "review", designation="G-ESI", at=LAST_MONTH)
    assert "P-OK" in people(past["may_read"])
    assert past["day"] == "2026-05-15"
    day = get(registry, "review", designation="G-ESI", at="2026-05-31")  # a day: as it stood at its end
    assert "P-OK" in people(day["may_read"]) and day["day"] == "2026-05-31"


def test_what_a_person_may_read(registry: Gateway) -> None:
    answer = get(registry, "what", person="P-OK")
    designations = [line["designation"] for line in answer["may_read"]]
    assert designations == [None, "G-ESI"]  # the unclassified documents, then each designation
    documents = sorted(d["id"] for d in rules_bundle()["documents"])
    readable = [d for d in documents if registry.evaluate("P-OK", d)["decision"]]
    assert answer["counts"]["documents"] == len(readable)
    assert all(line["roster"] for line in answer["may_not"])  # on those rosters today, yet denied
    assert {line["designation"] for line in answer["may_not"]} >= {"G-CAN"}
    assert get(registry, "what", person="P-NOPE", status=404)["detail"] == "no person P-NOPE in the registry"


def test_c9_assessment_details_only_for_administrators(registry: Gateway) -> None:
    registry.client.post("/v1/admin/assessments/A-OK/suspend", headers=registry.keys.auth("registry:admin"))

    def message(scope: str) -> str:
        review = get(registry, "review", scope, designation="G-ESI")
        line = next(x for x in review["may_not"] if x["person"] == "P-OK")
        return str(line["reasons"][0]["message"])

    assert "A-OK" in message("registry:admin") or "notified" in message("registry:admin")
    auditor = message("audit:read")
    assert "A-OK" not in auditor and "notified" not in auditor and auditor != message("registry:admin")


def test_reviews_need_an_administrator_or_auditor_and_good_parameters(registry: Gateway) -> None:
    get(registry, "review", "authz:evaluate", status=403, designation="G-ESI")
    get(registry, "review", "documents:read", status=403, designation="G-ESI")
    assert registry.client.get("/v1/access/review?designation=G-ESI").status_code == 401
    problem = get(registry, "review", status=400, designation="G-ESI", at="soon", within_days=-1)
    assert sorted(e["pointer"] for e in problem["errors"]) == ["/query/at", "/query/within_days"]
    assert get(registry, "review", status=400)["errors"][0]["pointer"] == "/query/designation"
    missing = get(registry, "review", status=404, designation="G-NOPE")
    assert missing["detail"] == "no designation G-NOPE in the registry"
    assert "unclassified" in get(registry, "review", status=404, document="D-PUB")["detail"]


def test_who_is_the_review_without_the_roster_and_the_losses(registry: Gateway) -> None:
    who = get(registry, "who", document="D-ESI")
    assert people(who["may_read"]) == people(get(registry, "review", document="D-ESI")["may_read"])
    assert "may_not" not in who and "losing" not in who


# --- the losses ahead against deciding every day (hypothesis) ------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), offset=st.integers(-300, 300), window=st.integers(1, 800))
def test_the_first_loss_is_the_first_day_an_evaluation_denies(seed: int, offset: int, window: int) -> None:
    today = date(2026, 12, 4)
    snapshot = snapshot_from_bundle(Bundle.model_validate(generate_bundle(Shape.for_persons(40), today, seed=seed)))
    policy = load_policy(POLICY_DIR)
    day = today + timedelta(days=offset)
    for (designation, person), _entry in list(snapshot.roster.items())[:25]:
        document = next((d.id for d in snapshot.documents.values() if d.designation_id == designation), None)
        if document is None:
            continue
        facts = snapshot.facts(person, document)
        if not decide(facts, "read", day, policy).allowed:
            continue
        last = day + timedelta(days=window)
        every_day = (day + timedelta(days=n) for n in range(1, window + 1))
        expected = next((d for d in every_day if not decide(facts, "read", d, policy).allowed), None)
        loss = first_loss(facts, "read", day, last, policy)
        assert (loss.on if loss else None) == expected, (person, designation)


def test_a_day_means_its_end_in_the_gateways_zone() -> None:
    from gateway.api.access import parse_at

    zone = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 6, 1, 3, tzinfo=UTC)
    at, present = parse_at("2026-02-01", zone, now)
    assert at.astimezone(zone).date() == date(2026, 2, 1) and at.astimezone(zone).hour == 23 and not present
    assert parse_at(None, zone, now) == (now, True)
    assert parse_at("2030-01-01T00:00:00+09:00", zone, now)[1] is True  # the future: today's registry
    with pytest.raises(ValueError, match="offset"):
        parse_at("2026-02-01T09:00:00", zone, now)
