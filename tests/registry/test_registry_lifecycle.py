"""Changes with a legal meaning through the administration API: suspend, reinstate and revoke (C7, B3),
extend (D2) and cancel (D3, D6) a designation; each change one event (R4), each refusal naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.admin_calls import call, event_count, events_since, ledger, one_event
from tests.support import Gateway, assert_problem

# --- C7, B3: suspend, reinstate, revoke ----------------------------------------------------------

MOVES = [
    ("assessments", "A-OK", "suspend", "active", "suspended"),
    ("assessments", "A-SUSP", "reinstate", "suspended", "active"),
    ("assessments", "A-OK", "revoke", "active", "revoked"),
    ("assessments", "A-SUSP", "revoke", "suspended", "revoked"),
    ("certifications", "CERT-ACME", "suspend", "active", "suspended"),
    ("certifications", "CERT-GAMMA", "reinstate", "suspended", "active"),
    ("certifications", "CERT-ACME", "revoke", "active", "revoked"),
    ("certifications", "CERT-GAMMA", "revoke", "suspended", "revoked"),
]


@pytest.mark.parametrize(("plural", "entity_id", "name", "was", "becomes"), MOVES)
def test_a_transition_changes_the_status_with_one_event(
    registry: Gateway, plural: str, entity_id: str, name: str, was: str, becomes: str
) -> None:
    count = event_count(registry)
    response = call(registry, "POST", f"/{plural}/{entity_id}/{name}", **{"X-Request-ID": "req-42"})
    assert response.status_code == 200, response.text
    assert (response.json()["before"]["status"], response.json()["after"]["status"]) == (was, becomes)
    assert call(registry, "GET", f"/{plural}/{entity_id}").json()["status"] == becomes
    event = one_event(registry, count)
    assert (event.action, event.entity, event.entity_id) == (f"{plural[:-1]}.{name}", plural[:-1], entity_id)
    assert (event.before["status"], event.after["status"]) == (was, becomes)
    assert (event.actor, event.request_id) == ("pep-1", "req-42")


REFUSED = [
    ("assessments", "A-OK", "reinstate", "active", ["suspend", "revoke"]),
    ("assessments", "A-SUSP", "suspend", "suspended", ["reinstate", "revoke"]),
    ("assessments", "A-REV", "reinstate", "revoked", []),  # C7: revocation is final
    ("assessments", "A-REV", "suspend", "revoked", []),
    ("assessments", "A-REV", "revoke", "revoked", []),
    ("certifications", "CERT-ACME", "reinstate", "active", ["suspend", "revoke"]),
    ("certifications", "CERT-GAMMA", "suspend", "suspended", ["reinstate", "revoke"]),
    ("certifications", "CERT-DELTA", "reinstate", "revoked", []),
]


@pytest.mark.parametrize(("plural", "entity_id", "name", "status", "allowed"), REFUSED)
def test_a_transition_the_status_does_not_allow_is_a_409_and_changes_nothing(
    registry: Gateway, plural: str, entity_id: str, name: str, status: str, allowed: list[str]
) -> None:
    count = event_count(registry)
    problem = assert_problem(call(registry, "POST", f"/{plural}/{entity_id}/{name}"), 409, says=status)
    assert (problem["current_status"], problem["allowed"]) == (status, allowed)
    if status == "revoked":
        assert "final" in problem["detail"]
    assert call(registry, "GET", f"/{plural}/{entity_id}").json()["status"] == status
    assert event_count(registry) == count


@pytest.mark.parametrize("plural", ["assessments", "certifications"])
def test_a_transition_of_an_unknown_record_is_a_404(registry: Gateway, plural: str) -> None:
    assert_problem(call(registry, "POST", f"/{plural}/NOPE/suspend"), 404, says="NOPE")


def test_a_clearance_change_holds_for_the_next_decision(registry: Gateway) -> None:
    assert registry.codes("P-OK", "D-ESI") == []
    call(registry, "POST", "/assessments/A-OK/suspend")
    assert registry.codes("P-OK", "D-ESI") == ["clearance_suspended"]
    call(registry, "POST", "/assessments/A-OK/reinstate")
    assert registry.codes("P-OK", "D-ESI") == []
    call(registry, "DELETE", "/rosters/G-ESI/P-OK")
    assert registry.codes("P-OK", "D-ESI") == ["not_on_roster"]
    call(registry, "PUT", "/rosters/G-ESI/P-OK", {"from": "2026-05-01"})
    assert registry.codes("P-OK", "D-ESI") == []
    call(registry, "POST", "/assessments/A-OK/revoke")
    assert registry.codes("P-OK", "D-ESI") == ["clearance_revoked"]


@pytest.mark.parametrize("name", ["suspend", "revoke"])
def test_b3_a_certification_lost_stops_every_employee_while_their_clearances_survive(
    registry: Gateway, name: str
) -> None:
    assert registry.codes("C-OK", "D-ESI") == []
    call(registry, "POST", f"/certifications/CERT-ACME/{name}")
    assert registry.codes("C-OK", "D-ESI") == ["employer_not_certified"]
    assert "employer_not_certified" in registry.codes("C-MODCLR", "D-ESI")
    assert call(registry, "GET", "/assessments/A-C-OK").json()["status"] == "active"  # B3: theirs survive
    assert registry.codes("P-OK", "D-ESI") == []  # government staff are not affected
    if name == "suspend":
        call(registry, "POST", "/certifications/CERT-ACME/reinstate")
        assert registry.codes("C-OK", "D-ESI") == []


# --- D2: extension -------------------------------------------------------------------------------


def test_d2_a_designation_is_extended_five_years_at_a_time_and_past_thirty_only_with_cabinet_approval(
    registry: Gateway,
) -> None:
    count = event_count(registry)
    for expiry in ("2035-05-31", "2040-05-31", "2045-05-31", "2050-05-31", "2055-05-31"):  # made 2025-06-01
        response = call(registry, "POST", "/designations/G-ESI/extend", {"expires_on": expiry})
        assert response.status_code == 200, response.text
        assert response.json()["expires_on"] == expiry
    for ref in (None, "", "  "):
        refused = call(
            registry, "POST", "/designations/G-ESI/extend", {"expires_on": "2055-06-01", "cabinet_approval_ref": ref}
        )
        assert_problem(refused, 422, "/expires_on", says="cabinet_approval_ref")
    body = {"expires_on": "2060-05-31", "cabinet_approval_ref": "Cabinet decision 2055-04-01 No. 7"}
    assert call(registry, "POST", "/designations/G-ESI/extend", body).status_code == 200
    events = events_since(registry, count)
    assert [e.action for e in events] == ["designation.extend"] * 6
    assert (events[-1].before["expires_on"], events[-1].after["expires_on"]) == ("2055-05-31", "2060-05-31")
    assert events[-1].after["cabinet_approval_ref"] == body["cabinet_approval_ref"]
    rows = ledger(registry, "G-ESI")  # D6
    assert [r.kind for r in rows] == ["designated"] + ["extended"] * 6
    assert rows[-1].expires_on.isoformat() == "2060-05-31"
    assert rows[-1].cabinet_approval_ref == body["cabinet_approval_ref"]
    assert rows[-1].on.isoformat() == "2026-06-01"  # the day the extension was made, in Japan time
    assert "designation_not_in_force" not in registry.codes("P-OK", "D-ESI", at="2060-05-31T12:00:00+09:00")
    assert "designation_not_in_force" in registry.codes("P-OK", "D-ESI", at="2060-06-01T00:00:00+09:00")


EXTENSIONS_REFUSED = [
    ({"expires_on": "2035-06-01"}, 422, "/expires_on", "at most 5 years"),
    ({"expires_on": "2030-05-31"}, 422, "/expires_on", "does not extend"),
    ({"expires_on": "2028-01-01"}, 422, "/expires_on", "does not extend"),
    ({"expires_on": "2035-02-30"}, 400, "/expires_on", "date"),
    ({"expires_on": 20350531}, 400, "/expires_on", ""),
    ({}, 400, "/expires_on", "required"),
    ({"expires_on": "2035-05-31", "reason": "x"}, 400, "/reason", "Extra"),
]


@pytest.mark.parametrize(("body", "status", "pointer", "says"), EXTENSIONS_REFUSED)
def test_an_extension_out_of_bounds_is_refused_naming_expires_on(
    registry: Gateway, body: dict[str, Any], status: int, pointer: str, says: str
) -> None:
    count = event_count(registry)
    assert_problem(call(registry, "POST", "/designations/G-ESI/extend", body), status, pointer, says=says)
    assert call(registry, "GET", "/designations/G-ESI").json()["expires_on"] == "2030-05-31"
    assert event_count(registry) == count
    assert [r.kind for r in ledger(registry, "G-ESI")] == ["designated"]


def test_a_cancelled_expired_or_unknown_designation_is_not_extended(registry: Gateway) -> None:
    assert_problem(
        call(registry, "POST", "/designations/G-CAN/extend", {"expires_on": "2031-05-31"}), 409, says="cancelled"
    )
    assert_problem(
        call(registry, "POST", "/designations/G-NOPE/extend", {"expires_on": "2031-05-31"}), 404, says="G-NOPE"
    )
    registry.clock.set("2030-06-01T00:00:00+00:00")  # 09:00 JST on the first day after expiry
    assert_problem(
        call(registry, "POST", "/designations/G-ESI/extend", {"expires_on": "2035-05-31"}), 409, says="expired"
    )


# --- D3, D6: cancellation ------------------------------------------------------------------------


def test_a_cancellation_takes_effect_on_its_day_and_is_recorded_once(registry: Gateway) -> None:
    count = event_count(registry)
    response = call(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-06-02"})
    assert response.status_code == 200, response.text
    assert response.json()["cancelled_on"] == "2026-06-02"
    event = one_event(registry, count)
    assert (event.action, event.before["cancelled_on"], event.after["cancelled_on"]) == (
        "designation.cancel",
        None,
        "2026-06-02",
    )
    assert [(r.kind, r.on.isoformat()) for r in ledger(registry, "G-ESI")][-1] == ("cancelled", "2026-06-02")
    assert registry.codes("P-OK", "D-ESI") == []  # D3: in force until the cancellation's day
    assert registry.codes("P-OK", "D-ESI", at="2026-06-02T00:00:00+09:00") == ["designation_not_in_force"]
    again = call(registry, "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-07-01"})
    assert_problem(again, 409, says="already cancelled")
    assert event_count(registry) == count + 1


CANCELS_REFUSED = [
    ("G-ESI", {"cancelled_on": "2025-05-31"}, 422, "/cancelled_on", "before the designation was made"),
    ("G-ESI", {"cancelled_on": "2030-06-01"}, 422, "/cancelled_on", "expires on 2030-05-31"),
    ("G-ESI", {"cancelled_on": "yesterday"}, 400, "/cancelled_on", "date"),
    ("G-CAN", {"cancelled_on": "2026-05-01"}, 409, None, "already cancelled"),
    ("G-NOPE", {"cancelled_on": "2026-05-01"}, 404, None, "G-NOPE"),
]


@pytest.mark.parametrize(("designation", "body", "status", "pointer", "says"), CANCELS_REFUSED)
def test_a_cancellation_that_cannot_be_is_refused(
    registry: Gateway, designation: str, body: dict[str, Any], status: int, pointer: str | None, says: str
) -> None:
    count = event_count(registry)
    assert_problem(call(registry, "POST", f"/designations/{designation}/cancel", body), status, pointer, says=says)
    assert event_count(registry) == count
