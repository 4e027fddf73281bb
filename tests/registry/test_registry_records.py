"""Registry records one by one through the administration API: created, read, replaced, listed and deleted;
invalid records refused with pointers; what a replacement may not undo (C7, D1, D6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.admin_calls import call, event_count, ledger, one_event
from tests.rules_registry import rules_bundle
from tests.support import Gateway, assert_problem

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
    assert_problem(call(registry, "PUT", f"/{plural}/{entity_id}", body), status, pointer, says=says)
    assert event_count(registry) == count
    assert call(registry, "GET", f"/{plural}/{entity_id}").status_code == 404


def test_a_replacement_cannot_undo_a_revocation_a_cancellation_or_the_designating_organ(registry: Gateway) -> None:
    count = event_count(registry)
    revoked = call(registry, "GET", "/assessments/A-REV").json()
    undo = call(registry, "PUT", "/assessments/A-REV", revoked | {"status": "active"})
    assert_problem(undo, 422, "/status", says="stays revoked (C7)")
    cancelled = call(registry, "GET", "/designations/G-CAN").json()
    uncancel = call(registry, "PUT", "/designations/G-CAN", cancelled | {"cancelled_on": None})
    assert_problem(uncancel, 422, "/cancelled_on", says="that stays (D6)")
    designation = call(registry, "GET", "/designations/G-ESI").json()
    moved = call(registry, "PUT", "/designations/G-ESI", designation | {"organ_id": "MOD"})
    assert_problem(moved, 422, "/organ_id", says="never changes")  # D1
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
    assert_problem(call(registry, "GET", "/persons?limit=0"), 400, "/query/limit", says="greater than")
