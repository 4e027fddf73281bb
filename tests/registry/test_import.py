"""Registry import: all or nothing, every bad entry by its JSON path, idempotent (api.md)."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bench.generator import Shape, generate_bundle
from gateway.db import make_engine, upgrade
from gateway.policy.files import load_policy
from gateway.registry.bundle_checks import parse_bundle
from gateway.registry.changes import Actor
from gateway.registry.importer import import_bundle
from gateway.registry.tables import ORDER
from gateway.settings import Settings
from gateway.store import DocumentStore, FilesystemBackend
from gateway.store.envelope import MasterKey
from models import ChangeEvent, Person, RosterEntry
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway


def _post(gw: Gateway, body: Any, scope: str = "registry:admin"):  # type: ignore[no-untyped-def]
    return gw.client.post("/v1/admin/registry/import", json=body, headers=gw.keys.auth(scope))


def _count(gw: Gateway, table: Any) -> int:
    with gw.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())


def test_import_creates_then_a_second_import_changes_nothing(gateway: Gateway) -> None:
    first = gateway.import_bundle(rules_bundle())
    assert first["changed"] is True
    assert first["created"]["persons"] == len(rules_bundle()["persons"])
    events = _count(gateway, ChangeEvent)
    second = gateway.import_bundle(rules_bundle())
    assert second["changed"] is False
    assert sum(second["created"].values()) == sum(second["updated"].values()) == 0
    assert _count(gateway, ChangeEvent) == events  # a no-op leaves no change events either


def test_an_update_records_before_and_after(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    bundle = rules_bundle()
    bundle["assessments"] = [a | {"status": "suspended"} for a in bundle["assessments"] if a["id"] == "A-OK"]
    result = gateway.import_bundle({"assessments": bundle["assessments"]})
    assert result["updated"]["assessments"] == 1
    answer = gateway.evaluate("P-OK", "D-ESI", at="2026-06-01T12:00:00+09:00")
    assert [r["code"] for r in answer["context"]["reasons"]] == ["clearance_suspended"]
    with gateway.container.engine.connect() as conn:
        event = conn.execute(
            select(ChangeEvent.__table__).where(ChangeEvent.entity_id == "A-OK").order_by(ChangeEvent.seq.desc())
        ).first()  # type: ignore[union-attr]
    assert event.action == "import.update"
    assert event.before == {"status": "active"} and event.after == {"status": "suspended"}
    assert event.actor == "pep-1"


def test_many_updates_each_land_with_their_own_change_event(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    bundle = rules_bundle()
    persons, rosters = bundle["persons"], bundle["rosters"][:3]
    for person in persons[:3]:
        person["name"] += " (renamed)"
    contractor = next(p for p in persons[3:] if p["kind"] == "contractor")
    contractor |= {"name": "Moved", "department": "Manufacturing"}
    for roster, until in zip(rosters, ("2029-12-31", "2029-06-30", "2028-01-01"), strict=True):
        roster["until"] = until
    result = gateway.import_bundle({"persons": persons, "rosters": rosters})
    assert (result["updated"]["persons"], result["updated"]["rosters"]) == (4, 3)
    with gateway.container.engine.connect() as conn:
        stored = {p.id: (p.name, p.department) for p in conn.execute(select(Person.__table__))}
        entries = conn.execute(select(RosterEntry.__table__)).all()
        until = {(r.designation_id, r.person_id): str(r.valid_until) for r in entries}
        after = dict(
            conn.execute(
                select(ChangeEvent.entity_id, ChangeEvent.after).where(ChangeEvent.action == "import.update")
            ).all()
        )
    assert stored == {p["id"]: (p["name"], p.get("department")) for p in persons}
    assert all(until[r["designation_id"], r["person_id"]] == r["until"] for r in rosters)
    assert after[contractor["id"]] == {"name": "Moved", "department": "Manufacturing"}
    assert after["/".join((rosters[1]["designation_id"], rosters[1]["person_id"]))] == {"valid_until": "2029-06-30"}
    assert len(after) == 7


def _broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    bundle = rules_bundle()
    target: Any = bundle
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bundle


_DELETE = object()
BAD = [
    (("persons", 0, "organ_id"), "NOPE", "/persons/0/organ_id", "unknown organ"),
    (("persons", 0, "kind"), "alien", "/persons/0/kind", "government"),
    (("persons", 0, "shoe_size"), 42, "/persons/0/shoe_size", "Extra inputs"),
    (("operators", 0, "corporate_number"), "7000012050003", "/operators/0/corporate_number", "check digit"),
    (("operators", 0, "corporate_number"), "700001205000", "/operators/0/corporate_number", "pattern"),
    (("designations", 0, "expires_on"), "2030-06-01", "/designations/0/expires_on", "at most 5 years"),
    (("designations", 0, "expires_on"), "2025-05-31", "/designations/0/expires_on", "before designated_on"),
    (("designations", 0, "designated_on"), "2025-02-30", "/designations/0/designated_on", "date"),
    (("designations", 0, "designated_on"), "01/06/2025", "/designations/0/designated_on", "date"),
    (("designations", 0, "scheme"), "top-secret", "/designations/0/scheme", "'esi' or 'sds'"),
    (("assessments", 0, "result"), "maybe", "/assessments/0/result", "favourable"),
    (("assessments", 0, "status"), "paused", "/assessments/0/status", "active"),
    (("assessments", 0, "person_id"), "P-GHOST", "/assessments/0/person_id", "unknown person"),
    (("contracts", 0, "designation_ids", 0), "G-MOD", "/contracts/0/designation_ids/0", "B1"),
    (("contracts", 0, "ends_on"), "2020-01-01", "/contracts/0/ends_on", "before starts_on"),
    (("rosters", 0, "until"), "2020-01-01", "/rosters/0/until", "before from"),
    (("rosters", 0, "designation_id"), "G-GHOST", "/rosters/0/designation_id", "unknown designation"),
    (("documents", 0, "content_base64"), "***", "/documents/0/content_base64", "base64"),
    (("documents", 0, "content_base64"), _DELETE, "/documents/0/content_base64", "needs its content"),
    (("persons", 1, "id"), "P-OK", "/persons/1", "duplicate of persons[0]"),
    (("persons", 0, "id"), "P OK", "/persons/0/id", "ASCII letters, digits"),
    (("persons", 0, "id"), "x" * 65, "/persons/0/id", "at most 64"),
]


@pytest.mark.parametrize(("path", "value", "pointer", "says"), BAD, ids=[b[2] + " " + b[3] for b in BAD])
def test_a_bad_entry_is_named_and_nothing_is_written(
    gateway: Gateway, path: tuple[Any, ...], value: Any, pointer: str, says: str
) -> None:
    response = _post(gateway, _broken(path, value))
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    matching = [e for e in problem["errors"] if e["pointer"] == pointer]
    assert matching, problem
    assert any(says in e["detail"] for e in matching), problem
    assert _count(gateway, Person) == 0
    assert _count(gateway, ChangeEvent) == 0


def test_every_bad_entry_is_named_at_once(gateway: Gateway) -> None:
    bundle = rules_bundle()
    bundle["persons"][0]["organ_id"] = "NOPE"
    bundle["operators"][1]["corporate_number"] = "6010401006771"
    bundle["rosters"][3]["person_id"] = "P-GHOST"
    problem = _post(gateway, bundle).json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/persons/0/organ_id", "/operators/1/corporate_number", "/rosters/3/person_id"} <= pointers
    assert {e["path"] for e in problem["errors"]} >= {"$.persons[0].organ_id", "$.rosters[3].person_id"}


def test_an_invalid_bundle_after_a_good_one_changes_nothing(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    events = _count(gateway, ChangeEvent)
    bundle = copy.deepcopy(rules_bundle())
    bundle["persons"][0]["name"] = "Renamed"
    bundle["persons"].append({"id": "P-NEW", "name": "x", "kind": "government", "organ_id": "NOPE"})
    assert _post(gateway, bundle).status_code == 422
    with gateway.container.engine.connect() as conn:
        assert conn.execute(select(Person.name).where(Person.id == "P-OK")).scalar_one() == "Name of P-OK"
    assert _count(gateway, ChangeEvent) == events


def test_extending_an_imported_designation_follows_d2(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    designation = next(d for d in rules_bundle()["designations"] if d["id"] == "G-ESI")
    too_far = _post(gateway, {"designations": [designation | {"expires_on": "2035-06-01"}]})
    assert too_far.status_code == 422
    assert "at most 5 years" in too_far.json()["errors"][0]["detail"]
    assert _post(gateway, {"designations": [designation | {"expires_on": "2035-05-31"}]}).status_code == 200
    moved = _post(gateway, {"designations": [designation | {"organ_id": "MOD", "expires_on": "2035-05-31"}]})
    assert "never changes" in moved.json()["errors"][0]["detail"]


def test_malformed_json_is_a_400(gateway: Gateway) -> None:
    response = gateway.client.post(
        "/v1/admin/registry/import",
        content=b"{not json",
        headers=gateway.keys.auth("registry:admin") | {"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["errors"][0]["detail"]


def test_only_administrators_import(gateway: Gateway) -> None:
    for scope in ("audit:read", "authz:evaluate", "policy:admin"):
        assert _post(gateway, rules_bundle(), scope).status_code == 403
    assert _count(gateway, Person) == 0


def test_an_import_cannot_undo_what_is_final(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    revoked = next(a for a in rules_bundle()["assessments"] if a["id"] == "A-REV")
    response = _post(gateway, {"assessments": [revoked | {"status": "active"}]})
    assert response.status_code == 422
    assert "stays revoked (C7)" in response.json()["errors"][0]["detail"]
    cancelled = next(d for d in rules_bundle()["designations"] if d["id"] == "G-CAN")
    response = _post(gateway, {"designations": [cancelled | {"cancelled_on": None}]})
    assert response.status_code == 422
    assert "that stays (D6)" in response.json()["errors"][0]["detail"]


def test_a_corporate_number_belongs_to_one_operator(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    response = _post(gateway, {"operators": [{"id": "NEWCO", "name": "New", "corporate_number": "7000012050002"}]})
    assert response.status_code == 422
    assert "'ACME' already has this corporate number" in response.json()["errors"][0]["detail"]


def test_the_ledger_records_designation_extension_and_cancellation(gateway: Gateway) -> None:
    from models import DesignationEvent

    gateway.import_bundle(rules_bundle())
    designation = next(d for d in rules_bundle()["designations"] if d["id"] == "G-ESI")
    gateway.import_bundle(
        {"designations": [designation | {"expires_on": "2035-05-31", "cabinet_approval_ref": "CAB-1"}]}
    )
    gateway.import_bundle({"designations": [designation | {"expires_on": "2035-05-31", "cancelled_on": "2027-01-01"}]})
    with gateway.container.engine.connect() as conn:
        events = conn.execute(
            select(
                DesignationEvent.kind,
                DesignationEvent.on,
                DesignationEvent.expires_on,
                DesignationEvent.cabinet_approval_ref,
            )
            .where(DesignationEvent.designation_id == "G-ESI")
            .order_by(DesignationEvent.seq)  # type: ignore[arg-type]
        ).all()
    assert [e.kind for e in events] == ["designated", "extended", "cancelled"]
    assert str(events[0].on) == "2025-06-01" and str(events[1].expires_on) == "2035-05-31"
    assert events[1].cabinet_approval_ref == "CAB-1"
    assert str(events[2].on) == "2027-01-01"


class _Passes(list[Any]):
    """A bundle section that counts the passes made over it."""

    def __init__(self, entries: list[Any], name: str, passes: Counter[str]):
        super().__init__(entries)
        self.name, self.passes = name, passes

    def __iter__(self) -> Iterator[Any]:
        self.passes[self.name] += 1
        return super().__iter__()


@pytest.mark.slow
def test_an_import_reads_each_section_a_few_times_whatever_its_size(tmp_path: Path) -> None:
    """A realistic registry imports in time linear in its size: every section of the bundle is walked a
    fixed number of times and the database is asked in batches, never once per entry (once per
    reference made validation quadratic: 1,000 persons with 250,000 roster entries did not finish)."""
    generated = generate_bundle(Shape.for_persons(2000, 1000), date(2026, 6, 1))
    bundle = parse_bundle(json.dumps(generated))
    passes: Counter[str] = Counter()
    for name in ORDER:
        setattr(bundle, name, _Passes(getattr(bundle, name), name, passes))
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'gw.db'}"))
    upgrade(engine)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    store = DocumentStore(FilesystemBackend(tmp_path / "documents"), MasterKey(os.urandom(32)))
    try:
        result = import_bundle(engine, bundle, Actor("test"), store, rules=load_policy(POLICY_DIR).registry)
    finally:
        engine.dispose()
    entries = sum(len(getattr(bundle, name)) for name in ORDER)
    assert result.created["rosters"] == len(generated["rosters"]) > 20_000
    assert sum(result.created.values()) == entries
    assert passes and max(passes.values()) <= 12, passes
    assert len(statements) < entries / 250, len(statements)
