"""Registry administration over HTTP (api.md "Administration"): transitions (C7, B3), extension (D2),
cancellation (D3, D6), rosters (N1), records one by one, the expiring list; each change one event (R4)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.api.registry_admin import router
from gateway.registry import admin as admin_module
from models import ChangeEvent, DesignationEvent
from tests.rules_registry import rules_bundle
from tests.support import Gateway, carried_over

ADMIN = "registry:admin"


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    return gateway


def call(
    gw: Gateway,
    method: str,
    path: str,
    body: Any = None,
    scope: str = ADMIN,
    params: dict[str, str] | None = None,
    **headers: str,
) -> Any:
    kwargs: dict[str, Any] = {"headers": gw.keys.auth(scope) | headers, "params": params}
    if body is not None:
        kwargs["json"] = body
    return gw.client.request(method, "/v1/admin" + path, **kwargs)


def event_count(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one())


def events_since(gw: Gateway, count: int) -> list[Any]:
    with gw.container.engine.connect() as conn:
        query = select(ChangeEvent.__table__).order_by(ChangeEvent.seq).offset(count)  # type: ignore[arg-type]
        return list(conn.execute(query))


def one_event(gw: Gateway, count: int) -> Any:
    """R4: the change wrote exactly one event."""
    events = events_since(gw, count)
    assert len(events) == 1, events
    return events[0]


def ledger(gw: Gateway, designation_id: str) -> list[Any]:
    table = DesignationEvent.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:
        query = select(table).where(table.c.designation_id == designation_id).order_by(table.c.seq)
        return list(conn.execute(query))


def assert_problem(response: Any, status: int, pointer: str | None = None, says: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    if pointer is not None:
        matching = [e for e in problem["errors"] if e["pointer"] == pointer]
        assert matching, problem
        assert any(says in e["detail"] for e in matching), problem
    else:
        assert says in problem["detail"], problem
    return problem


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
        assert_problem(refused, 422, "/expires_on", "cabinet_approval_ref")
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
    assert_problem(call(registry, "POST", "/designations/G-ESI/extend", body), status, pointer, says)
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
    assert_problem(call(registry, "POST", f"/designations/{designation}/cancel", body), status, pointer, says)
    assert event_count(registry) == count


# --- N1: rosters ---------------------------------------------------------------------------------


def test_n1_roster_entries_are_added_changed_and_removed_with_their_dates(registry: Gateway) -> None:
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]
    count = event_count(registry)
    added = call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"from": "2026-06-02", "until": "2026-12-31"})
    assert added.status_code == 201, added.text
    assert added.json() == {
        "designation_id": "G-ESI",
        "person_id": "P-NOROSTER",
        "from": "2026-06-02",
        "until": "2026-12-31",
    }
    event = one_event(registry, count)
    assert (event.action, event.entity, event.entity_id, event.before) == (
        "roster.add",
        "roster_entry",
        "G-ESI/P-NOROSTER",
        None,
    )
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]  # from tomorrow
    assert registry.codes("P-NOROSTER", "D-ESI", at="2026-06-02T00:00:00+09:00") == []
    assert registry.codes("P-NOROSTER", "D-ESI", at="2027-01-01T00:00:00+09:00") == ["not_on_roster"]

    count = event_count(registry)
    changed = call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"until": None})  # keeps its start
    assert changed.status_code == 200
    assert (changed.json()["from"], changed.json()["until"]) == ("2026-06-02", None)
    event = one_event(registry, count)
    assert (event.action, event.before["valid_until"], event.after["valid_until"]) == (
        "roster.change",
        "2026-12-31",
        None,
    )
    assert call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"until": None}).status_code == 200
    assert event_count(registry) == count + 1  # the same entry again is no change

    count = event_count(registry)
    removed = call(registry, "DELETE", "/rosters/G-ESI/P-NOROSTER")
    assert removed.json()["deleted"]["from"] == "2026-06-02"
    event = one_event(registry, count)  # N1: the entry is ended, not deleted; it had not begun, so it ends before
    assert (event.action, event.after["valid_from"], event.after["valid_until"]) == (
        "roster.remove",
        "2026-06-02",
        "2026-06-01",
    )
    assert_problem(call(registry, "DELETE", "/rosters/G-ESI/P-NOROSTER"), 404, says="not on the roster")


@pytest.mark.parametrize(
    ("now", "today"), [("2026-06-01T03:00:00+00:00", "2026-06-01"), ("2026-06-01T15:30:00+00:00", "2026-06-02")]
)
def test_a_new_roster_entry_starts_today_in_japan_by_default(registry: Gateway, now: str, today: str) -> None:
    registry.clock.set(now)
    response = call(registry, "PUT", "/rosters/G-SDS/P-NOROSTER")
    assert response.status_code == 201, response.text
    assert (response.json()["from"], response.json()["until"]) == (today, None)


ROSTERS_REFUSED = [
    ("G-ESI", "P-NOROSTER", {"from": "2026-06-01", "until": "2026-05-31"}, 422, "/until", "before from"),
    ("G-ESI", "P-NOROSTER", {"from": "2026-13-01"}, 400, "/from", "date"),
    ("G-ESI", "P-NOROSTER", {"since": "2026-06-01"}, 400, "/since", "Extra"),
    ("G-NOPE", "P-NOROSTER", {}, 404, None, "G-NOPE"),
    ("G-ESI", "P-NOPE", {}, 404, None, "P-NOPE"),
]


@pytest.mark.parametrize(("designation", "person", "body", "status", "pointer", "says"), ROSTERS_REFUSED)
def test_a_bad_roster_entry_is_refused_and_leaves_no_trace(
    registry: Gateway, designation: str, person: str, body: dict[str, Any], status: int, pointer: str | None, says: str
) -> None:
    count = event_count(registry)
    assert_problem(call(registry, "PUT", f"/rosters/{designation}/{person}", body), status, pointer, says)
    assert event_count(registry) == count
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]


# --- records one by one --------------------------------------------------------------------------

NEW = [
    ("organs", "MIC", {"name": "Ministry of Internal Affairs and Communications"}),
    ("operators", "OMEGA", {"name": "Omega K.K.", "corporate_number": "3010001088782"}),
    ("persons", "P-NEW", {"name": "New Person", "kind": "contractor", "operator_id": "ACME", "department": "R&D"}),
    (
        "assessments",
        "A-NEW",
        {
            "person_id": "P-NONE",
            "organ_id": "METI",
            "scheme": "sds",
            "result": "favourable",
            "notified_on": "2026-05-01",
        },
    ),
    ("certifications", "CERT-BETA", {"operator_id": "BETA", "organ_id": "METI", "certified_on": "2026-05-01"}),
    (
        "designations",
        "G-NEW",
        {
            "organ_id": "METI",
            "scheme": "esi",
            "category": "infrastructure/power",
            "summary": "grid",
            "designated_on": "2026-05-01",
            "expires_on": "2031-04-30",
        },
    ),
    (
        "contracts",
        "K-BETA",
        {
            "operator_id": "BETA",
            "organ_id": "METI",
            "starts_on": "2026-05-01",
            "ends_on": "2027-04-30",
            "designation_ids": ["G-ESI"],
            "departments": ["R&D"],
        },
    ),
]


@pytest.mark.parametrize(("plural", "entity_id", "body"), NEW, ids=[n[0] for n in NEW])
def test_a_record_is_created_read_replaced_and_listed(
    registry: Gateway, plural: str, entity_id: str, body: dict[str, Any]
) -> None:
    count = event_count(registry)
    created = call(registry, "PUT", f"/{plural}/{entity_id}", body)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["id"] == entity_id and all(record[k] == v for k, v in body.items())
    event = one_event(registry, count)
    assert (event.action, event.before, event.after["id"]) == (f"{plural[:-1]}.create", None, entity_id)
    assert call(registry, "GET", f"/{plural}/{entity_id}").json() == record

    count = event_count(registry)
    assert call(registry, "PUT", f"/{plural}/{entity_id}", record).status_code == 200  # GET's answer round-trips
    assert event_count(registry) == count  # the same record again is no change

    changed_field = "summary" if plural == "designations" else ("ends_on" if plural == "contracts" else "name")
    value = "2027-03-31" if changed_field == "ends_on" else "Renamed"
    if plural in ("assessments", "certifications"):
        changed_field, value = "status", "suspended"
    replaced = call(registry, "PUT", f"/{plural}/{entity_id}", {**body, changed_field: value})
    assert replaced.status_code == 200, replaced.text
    event = one_event(registry, count)
    assert (event.action, event.before[changed_field], event.after[changed_field]) == (
        f"{plural[:-1]}.replace",
        record[changed_field],
        value,
    )
    listed = call(registry, "GET", f"/{plural}?limit=1000").json()
    assert entity_id in [item["id"] for item in listed["items"]] and listed["total"] == len(listed["items"])


def test_a_designation_created_one_by_one_opens_its_ledger(registry: Gateway) -> None:
    call(registry, "PUT", "/designations/G-NEW", dict(NEW[5][2]))
    assert [(r.kind, r.on.isoformat()) for r in ledger(registry, "G-NEW")] == [("designated", "2026-05-01")]


def test_a_contract_replaced_replaces_its_designations(registry: Gateway) -> None:
    record = call(registry, "GET", "/contracts/K-ACME").json()
    assert record["designation_ids"] == ["G-ESI", "G-SDS"]
    response = call(registry, "PUT", "/contracts/K-ACME", record | {"designation_ids": ["G-SDS"]})
    assert response.json()["designation_ids"] == ["G-SDS"]
    listed = {k["id"]: k["designation_ids"] for k in call(registry, "GET", "/contracts").json()["items"]}
    assert (listed["K-ACME"], listed["K-ZETA"]) == (["G-SDS"], ["G-MOD"])
    assert registry.codes("C-OK", "D-ESI") == ["contract_not_in_force"]


PERSON = {"name": "X", "kind": "government", "organ_id": "METI"}
INVALID = [
    (
        "operators",
        "OMEGA",
        {"name": "Omega", "corporate_number": "3010001088783"},
        422,
        "/corporate_number",
        "check digit",
    ),
    ("operators", "OMEGA", {"name": "Omega", "corporate_number": "7000012050002"}, 422, "/corporate_number", "ACME"),
    ("operators", "OMEGA", {"name": "Omega", "corporate_number": "301000108878"}, 400, "/corporate_number", "pattern"),
    ("persons", "P-NEW", PERSON | {"organ_id": "NOPE"}, 422, "/organ_id", "unknown organ"),
    ("persons", "P-NEW", PERSON | {"kind": "alien"}, 400, "/kind", "government"),
    ("persons", "P-NEW", PERSON | {"shoe_size": 42}, 400, "/shoe_size", "Extra"),
    ("persons", "P-NEW", PERSON | {"id": "P-OTHER"}, 400, "/id", "not the id in the path"),
    ("persons", "P-NEW", [PERSON], 400, "", "object"),
    ("persons", "P-NEW", PERSON | {"operator_id": "ACME"}, 422, "/operator_id", "no operator"),
    (
        "assessments",
        "A-NEW",
        {
            "person_id": "P-GHOST",
            "organ_id": "METI",
            "scheme": "esi",
            "result": "favourable",
            "notified_on": "2026-05-01",
        },
        422,
        "/person_id",
        "unknown person",
    ),
    (
        "assessments",
        "A-NEW",
        {
            "person_id": "P-NONE",
            "organ_id": "METI",
            "scheme": "top",
            "result": "favourable",
            "notified_on": "2026-05-01",
        },
        400,
        "/scheme",
        "'esi' or 'sds'",
    ),
    (
        "assessments",
        "A-NEW",
        {"person_id": "P-NONE", "organ_id": "METI", "scheme": "esi", "result": "maybe", "notified_on": "2026-05-01"},
        400,
        "/result",
        "favourable",
    ),
    (
        "assessments",
        "A-NEW",
        {
            "person_id": "P-NONE",
            "organ_id": "METI",
            "scheme": "esi",
            "result": "favourable",
            "notified_on": "2026-02-30",
        },
        400,
        "/notified_on",
        "date",
    ),
    (
        "certifications",
        "CERT-NEW",
        {"operator_id": "ACME", "organ_id": "METI", "certified_on": "2026-05-01", "status": "paused"},
        400,
        "/status",
        "active",
    ),
    (
        "certifications",
        "CERT-NEW",
        {"operator_id": "NOPE", "organ_id": "METI", "certified_on": "2026-05-01"},
        422,
        "/operator_id",
        "unknown operator",
    ),
    (
        "designations",
        "G-NEW",
        {
            "organ_id": "METI",
            "scheme": "esi",
            "category": "supply-chain",
            "summary": "s",
            "designated_on": "2026-05-01",
            "expires_on": "2031-05-01",
        },
        422,
        "/expires_on",
        "at most 5 years",
    ),
    (
        "contracts",
        "K-NEW",
        {
            "operator_id": "ACME",
            "organ_id": "METI",
            "starts_on": "2026-05-01",
            "ends_on": "2027-04-30",
            "designation_ids": ["G-MOD"],
        },
        422,
        "/designation_ids/0",
        "B1",
    ),
    (
        "contracts",
        "K-NEW",
        {"operator_id": "ACME", "organ_id": "METI", "starts_on": "2026-05-01", "ends_on": "2026-04-30"},
        422,
        "/ends_on",
        "before starts_on",
    ),
]


@pytest.mark.parametrize(
    ("plural", "entity_id", "body", "status", "pointer", "says"), INVALID, ids=[f"{i[4]} {i[5]}" for i in INVALID]
)
def test_an_invalid_record_is_refused_with_pointers_and_leaves_no_trace(
    registry: Gateway, plural: str, entity_id: str, body: Any, status: int, pointer: str, says: str
) -> None:
    count = event_count(registry)
    assert_problem(call(registry, "PUT", f"/{plural}/{entity_id}", body), status, pointer, says)
    assert event_count(registry) == count
    assert call(registry, "GET", f"/{plural}/{entity_id}").status_code == 404


def test_a_replacement_cannot_undo_a_revocation_a_cancellation_or_the_designating_organ(registry: Gateway) -> None:
    count = event_count(registry)
    revoked = call(registry, "GET", "/assessments/A-REV").json()
    undo = call(registry, "PUT", "/assessments/A-REV", revoked | {"status": "active"})
    assert_problem(undo, 422, "/status", "stays revoked (C7)")
    cancelled = call(registry, "GET", "/designations/G-CAN").json()
    uncancel = call(registry, "PUT", "/designations/G-CAN", cancelled | {"cancelled_on": None})
    assert_problem(uncancel, 422, "/cancelled_on", "that stays (D6)")
    designation = call(registry, "GET", "/designations/G-ESI").json()
    moved = call(registry, "PUT", "/designations/G-ESI", designation | {"organ_id": "MOD"})
    assert_problem(moved, 422, "/organ_id", "never changes")  # D1
    assert event_count(registry) == count


DELETES = [
    ("organs", "METI", 409, "persons"),
    ("operators", "ACME", 409, "certifications"),
    ("persons", "P-OK", 409, "roster_entries"),
    ("designations", "G-FUT", 409, "D6"),
    ("assessments", "A-OK", 200, ""),
    ("certifications", "CERT-EPS", 200, ""),
    ("contracts", "K-EPS", 200, ""),
    ("persons", "NOPE", 404, "NOPE"),
]


@pytest.mark.parametrize(("plural", "entity_id", "status", "says"), DELETES)
def test_a_record_is_deleted_only_when_nothing_refers_to_it(
    registry: Gateway, plural: str, entity_id: str, status: int, says: str
) -> None:
    count = event_count(registry)
    response = call(registry, "DELETE", f"/{plural}/{entity_id}")
    if status != 200:
        assert_problem(response, status, says=says)
        assert event_count(registry) == count
        return
    assert response.status_code == 200, response.text
    event = one_event(registry, count)
    assert (event.action, event.before["id"], event.after) == (f"{plural[:-1]}.delete", entity_id, None)
    assert call(registry, "GET", f"/{plural}/{entity_id}").status_code == 404


def test_a_record_created_then_unreferenced_can_be_deleted(registry: Gateway) -> None:
    call(registry, "PUT", "/organs/MIC", {"name": "MIC"})
    call(registry, "PUT", "/persons/P-MIC", PERSON | {"organ_id": "MIC"})
    problem = assert_problem(call(registry, "DELETE", "/organs/MIC"), 409, says="1 persons (organ_id)")
    assert problem["referred_by"] == [{"table": "persons", "column": "organ_id", "count": 1}]
    assert call(registry, "DELETE", "/persons/P-MIC").status_code == 200
    assert call(registry, "DELETE", "/organs/MIC").status_code == 200


def test_a_list_is_paged_by_id(registry: Gateway) -> None:
    everyone = sorted(p["id"] for p in rules_bundle()["persons"])
    first = call(registry, "GET", "/persons?limit=5").json()
    assert [p["id"] for p in first["items"]] == everyone[:5]
    assert (first["total"], first["limit"], first["offset"]) == (len(everyone), 5, 0)
    last = call(registry, "GET", f"/persons?limit=5&offset={len(everyone) - 2}").json()
    assert [p["id"] for p in last["items"]] == everyone[-2:]
    assert_problem(call(registry, "GET", "/persons?limit=0"), 400, "/query/limit", "greater than")


# --- expiring ------------------------------------------------------------------------------------


def _assessment(id_: str, person: str, notified: str, scheme: str = "esi", **extra: str) -> dict[str, Any]:
    return {
        "id": id_,
        "person_id": person,
        "organ_id": "METI",
        "scheme": scheme,
        "result": "favourable",
        "notified_on": notified,
    } | extra


def _designation(id_: str, start: str, end: str, **extra: str) -> dict[str, Any]:
    return {
        "id": id_,
        "organ_id": "METI",
        "scheme": "esi",
        "category": "supply-chain",
        "summary": "s",
        "designated_on": start,
        "expires_on": end,
    } | extra


def _contract(id_: str, end: str) -> dict[str, Any]:
    return {
        "id": id_,
        "operator_id": "ACME",
        "organ_id": "METI",
        "starts_on": "2025-01-01",
        "ends_on": end,
        "designation_ids": [],
        "departments": [],
    }


def expiring_bundle() -> dict[str, Any]:
    """Today is 2026-06-01; a 90-day window runs through 2026-08-30."""
    persons = ["P-EDGE", "P-TODAY", "P-GONE", "P-OUT", "P-SDS", "P-RENEWED", "P-SUSP", "P-UNFAV"]
    return carried_over({
        "organs": [{"id": "METI", "name": "METI"}],
        "operators": [{"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"}],
        "persons": [{"id": p, "name": p, "kind": "government", "organ_id": "METI"} for p in persons],
        "assessments": [
            _assessment("A-EDGE", "P-EDGE", "2016-08-30"),  # C3: valid through 2026-08-30, the window's last day
            _assessment("A-TODAY", "P-TODAY", "2016-06-01"),  # valid through today
            _assessment("A-GONE", "P-GONE", "2016-05-31"),  # ended yesterday
            _assessment("A-OUT", "P-OUT", "2016-08-31"),  # through 2026-08-31: one day past the window
            _assessment("A-SDS", "P-SDS", "2021-07-01", scheme="sds"),  # five years: through 2026-07-01
            _assessment("A-OLD", "P-RENEWED", "2016-07-01"),  # C4: a newer one counts instead
            _assessment("A-NEW", "P-RENEWED", "2024-01-01"),
            _assessment("A-SUSP", "P-SUSP", "2016-07-01", status="suspended"),
            _assessment("A-UNFAV", "P-UNFAV", "2016-07-01", result="unfavourable"),
        ],
        "designations": [
            _designation("G-EDGE", "2021-09-01", "2026-08-30"),
            _designation("G-OUT", "2021-09-01", "2026-08-31"),
            _designation("G-CAN", "2021-09-01", "2026-07-01", cancelled_on="2026-05-01"),
            _designation("G-GONE", "2021-06-01", "2026-05-31"),
        ],
        "contracts": [
            _contract("K-TODAY", "2026-06-01"),
            _contract("K-EDGE", "2026-08-30"),
            _contract("K-OUT", "2026-08-31"),
            _contract("K-GONE", "2026-05-31"),
        ],
    })


WINDOWS = [
    (
        "90d",
        90,
        [
            ("assessment", "A-TODAY", "2026-06-01", 0),
            ("contract", "K-TODAY", "2026-06-01", 0),
            ("assessment", "A-SDS", "2026-07-01", 30),
            ("assessment", "A-EDGE", "2026-08-30", 90),
            ("contract", "K-EDGE", "2026-08-30", 90),
            ("designation", "G-EDGE", "2026-08-30", 90),
        ],
    ),
    ("90", 90, None),
    (
        "12w",
        84,
        [
            ("assessment", "A-TODAY", "2026-06-01", 0),
            ("contract", "K-TODAY", "2026-06-01", 0),
            ("assessment", "A-SDS", "2026-07-01", 30),
        ],
    ),
    ("0d", 0, [("assessment", "A-TODAY", "2026-06-01", 0), ("contract", "K-TODAY", "2026-06-01", 0)]),
]


@pytest.mark.parametrize(("within", "days", "expected"), WINDOWS)
def test_expiring_lists_what_ends_within_the_window_and_has_not_ended(
    gateway: Gateway, within: str, days: int, expected: list[tuple[str, str, str, int]] | None
) -> None:
    gateway.import_bundle(expiring_bundle())
    response = call(gateway, "GET", f"/expiring?within={within}")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["today"], answer["within_days"]) == ("2026-06-01", days)
    got = [(i["kind"], i["id"], i["last_day"], i["days_left"]) for i in answer["items"]]
    assert got == (expected if expected is not None else WINDOWS[0][2])
    concerns = {i["id"]: i["concerns"] for i in answer["items"]}
    assert concerns["A-TODAY"] == {"person": "P-TODAY", "organ": "METI"}
    assert concerns["K-TODAY"] == {"operator": "ACME", "organ": "METI"}


@pytest.mark.parametrize("within", ["90x", "-1", "d", "99999999"])
def test_expiring_refuses_a_window_it_cannot_read(gateway: Gateway, within: str) -> None:
    assert_problem(call(gateway, "GET", f"/expiring?within={within}"), 400, "/query/within", "")


# --- who may call --------------------------------------------------------------------------------

ROUTES = sorted((method, route.path) for route in router.routes for method in route.methods)  # type: ignore[attr-defined]


def test_every_route_needs_registry_admin(registry: Gateway) -> None:
    count = event_count(registry)
    for method, path in ROUTES:
        concrete = path.replace("{id}", "A-OK").replace("{designation_id}", "G-ESI").replace("{person_id}", "P-OK")
        for scope in ("audit:read", "authz:evaluate", "policy:admin"):
            response = registry.client.request(method, concrete, headers=registry.keys.auth(scope), json={})
            assert response.status_code == 403, (method, path, scope, response.text)
        assert registry.client.request(method, concrete).status_code == 401, (method, path)
    assert len(ROUTES) >= 6 + 2 + 2 + 7 * 4 + 1
    assert event_count(registry) == count


# --- reads that mean what they say -----------------------------------------------------------------

LISTS = sorted(admin_module.FILTERS)


def _filter_cases() -> list[tuple[str, str, str, list[str]]]:
    """(list, filter, a value the rules registry has, the ids it must give) for every real filter."""
    bundle, cases = rules_bundle(), []
    for plural, names in sorted(admin_module.FILTERS.items()):
        for name in names:
            if name == "designation_id":  # contracts: the ones providing the designation (B2)
                value = "G-SDS"
                ids = [r["id"] for r in bundle[plural] if value in r["designation_ids"]]
            else:
                value = next(r[name] for r in bundle[plural] if r.get(name) is not None)
                ids = [r["id"] for r in bundle[plural] if r.get(name) == value]
            cases.append((plural, name, value, sorted(ids)))
    return cases


@pytest.mark.parametrize(("plural", "name", "value", "ids"), _filter_cases())
def test_each_list_filter_gives_only_what_it_names(
    registry: Gateway, plural: str, name: str, value: str, ids: list[str]
) -> None:
    listed = call(registry, "GET", f"/{plural}", params={name: value, "limit": "1000"})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == ids and listed.json()["total"] == len(ids)
    nothing = call(registry, "GET", f"/{plural}", params={name: "no-such-value"}).json()
    assert (nothing["items"], nothing["total"]) == ([], 0)  # never ignored


@pytest.mark.parametrize("path", [f"/{plural}" for plural in LISTS] + ["/rosters", "/expiring"])
def test_a_list_refuses_a_filter_it_does_not_have_instead_of_ignoring_it(registry: Gateway, path: str) -> None:
    """GET /v1/admin/assessments?person_id=P-0001 once listed everyone's assessments."""
    assert_problem(call(registry, "GET", path, params={"colour": "red"}), 400, "/query/colour", "not a filter")
    if path == "/persons":
        repeated = call(registry, "GET", "/persons?kind=government&kind=contractor")
        assert_problem(repeated, 400, "/query/kind", "more than once")


def test_the_assessments_of_one_person_are_hers_alone(registry: Gateway) -> None:
    listed = call(registry, "GET", "/assessments?person_id=P-OK").json()["items"]
    assert listed and {a["person_id"] for a in listed} == {"P-OK"}


def test_n1_rosters_are_listed_by_designation_by_person_or_both(registry: Gateway) -> None:
    expected = [r for r in rules_bundle()["rosters"] if r["designation_id"] == "G-SDS"]
    by_designation = call(registry, "GET", "/rosters?designation=G-SDS").json()
    assert by_designation["items"] == sorted(expected, key=lambda r: r["person_id"])
    assert by_designation["total"] == len(expected)
    by_person = call(registry, "GET", "/rosters?person=P-OK").json()["items"]
    assert {(r["designation_id"], r["person_id"]) for r in by_person} == {
        (g, "P-OK") for g in ("G-ESI", "G-SDS", "G-CAN", "G-FUT", "G-LONG")
    }
    both = call(registry, "GET", "/rosters?designation=G-SDS&person=P-OK").json()["items"]
    assert both == [{"designation_id": "G-SDS", "person_id": "P-OK", "from": "2025-06-01", "until": None}]
    paged = call(registry, "GET", "/rosters?limit=2&offset=1").json()
    assert len(paged["items"]) == 2 and paged["total"] == len(rules_bundle()["rosters"])


def test_n1_a_designations_record_includes_its_roster_and_round_trips(registry: Gateway) -> None:
    record = call(registry, "GET", "/designations/G-SDS").json()
    assert [(r["person_id"], r["from"], r["until"]) for r in record["roster"]] == [
        ("C-SDS", "2025-06-01", None),
        ("P-OK", "2025-06-01", None),
        ("P-SDS", "2025-06-01", None),
    ]
    count = event_count(registry)
    assert call(registry, "PUT", "/designations/G-SDS", record).status_code == 200  # the roster is read-only here
    assert event_count(registry) == count
