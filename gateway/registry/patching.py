"""The snapshot moved forward by the registry's change events, re-reading only the records they name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from gateway.registry.history import Key
from gateway.registry.loading import (
    assessment_fact,
    certification_fact,
    contract_fact,
    designation_fact,
    document_fact,
    grouped,
    load_history,
    period_order,
    person_fact,
    provision_fact,
    rosters_of,
)
from gateway.registry.snapshot import RegistrySnapshot, registry_version
from models import (
    Assessment,
    Certification,
    ChangeEvent,
    Contract,
    ContractDesignation,
    Designation,
    Document,
    Person,
    Provision,
    RosterEntry,
)

PATCH_LIMIT = 5_000  # change events applied one by one; beyond this (a big import) the snapshot is rebuilt


def patch_snapshot(conn: Connection, snapshot: RegistrySnapshot) -> RegistrySnapshot | None:
    """The snapshot moved forward by the change events since its version, re-reading only the records
    they name; None when there are too many of them, or one this cannot place (then rebuild).

    A rebuild reads every table (seconds at 100,000 persons); a suspension or a roster removal should
    reach every replica in milliseconds whatever the registry's size. Run inside one repeatable-read
    transaction, so that the events and the records read agree with the version returned.
    """
    version = registry_version(conn)
    if snapshot.version < 0 or version < snapshot.version:
        return None
    events = conn.execute(
        select(_EVENTS.c.entity, _EVENTS.c.entity_id, _EVENTS.c.before, _EVENTS.c.after)
        .where(_EVENTS.c.chain_index > snapshot.version, _EVENTS.c.chain_index <= version)
        .limit(PATCH_LIMIT + 1)
    ).all()
    if len(events) > PATCH_LIMIT:
        return None
    touched: dict[str, set[Any]] = defaultdict(set)
    grouped_ids: dict[str, set[str]] = defaultdict(set)  # assessment, certification, contract ids
    for entity, entity_id, before, after in events:
        sides = [side for side in (before, after) if side]
        if entity in ("person", "designation", "document"):
            touched[entity].add(entity_id)
        elif entity in _GROUPED:
            # An import's update event holds only the columns that changed: the owner is read below
            # from the record itself, and taken from the event too in case it moved or was deleted.
            grouped_ids[entity].add(entity_id)
            touched[entity].update(side[_GROUPED[entity][1]] for side in sides if _GROUPED[entity][1] in side)
        elif entity == "provision":  # C5a: entity id "designation/organ"
            designation_id = next((side["designation_id"] for side in sides if "designation_id" in side), None)
            touched["provision"].add(designation_id or entity_id.split("/", 1)[0])
        elif entity == "roster_entry":
            key = _roster_key(entity_id, sides)
            if key is None:
                return None
            touched["roster_entry"].add(key)
        elif entity not in ("organ", "operator", "policy"):  # those three are not in a snapshot
            return None
    for entity, ids in grouped_ids.items():
        model, owner = _GROUPED[entity]
        table = model.__table__
        for start in range(0, len(ids), 500):
            chunk = sorted(ids)[start : start + 500]
            touched[entity].update(conn.execute(select(table.c[owner]).where(table.c.id.in_(chunk))).scalars())
    changes: dict[str, Any] = {}
    fresh: dict[Any, Any]  # each kind of record's fresh facts in turn
    if touched["person"]:
        rows = _rows(conn, Person, Person.id, touched["person"])
        changes["persons"] = _replaced(snapshot.persons, touched["person"], {r.id: person_fact(r) for r in rows})
    if touched["designation"]:
        rows = _rows(conn, Designation, Designation.id, touched["designation"])
        fresh = {r.id: designation_fact(r) for r in rows}
        changes["designations"] = _replaced(snapshot.designations, touched["designation"], fresh)
    if touched["document"]:
        rows = _rows(conn, Document, Document.id, touched["document"])
        fresh = {r.id: document_fact(r) for r in rows}
        changes["documents"] = _replaced(snapshot.documents, touched["document"], fresh)
    if touched["assessment"]:
        rows = _rows(conn, Assessment, Assessment.person_id, touched["assessment"])
        changes["assessments"] = _replaced(
            snapshot.assessments, touched["assessment"], grouped(rows, "person_id", assessment_fact)
        )
    if touched["certification"]:
        rows = _rows(conn, Certification, Certification.operator_id, touched["certification"])
        fresh = grouped(rows, "operator_id", certification_fact)
        changes["certifications"] = _replaced(snapshot.certifications, touched["certification"], fresh)
    if touched["contract"]:
        rows = _rows(conn, Contract, Contract.operator_id, touched["contract"])
        links = _rows(conn, ContractDesignation, ContractDesignation.contract_id, {r.id for r in rows})
        covered: dict[str, set[str]] = defaultdict(set)
        for link in links:
            covered[link.contract_id].add(link.designation_id)
        fresh = grouped(rows, "operator_id", lambda r: contract_fact(r, covered[r.id]))
        changes["contracts"] = _replaced(snapshot.contracts, touched["contract"], fresh)
    if touched["roster_entry"]:
        keys = touched["roster_entry"]
        designations = {d for d, _ in keys}
        rows = _rows(conn, RosterEntry, RosterEntry.designation_id, designations)
        fresh = rosters_of(r for r in rows if (r.designation_id, r.person_id) in keys)
        changes["roster"] = _replaced(snapshot.roster, keys, fresh)
    if touched["provision"]:
        rows = _rows(conn, Provision, Provision.designation_id, touched["provision"])
        fresh = grouped(sorted(rows, key=period_order), "designation_id", provision_fact)
        changes["provisions"] = _replaced(snapshot.provisions, touched["provision"], fresh)
    historic: set[Key] = {(entity, i) for entity, ids in grouped_ids.items() for i in ids}
    historic |= {("provision", i) for i in touched["provision"]}
    historic |= {("designation", i) for i in touched["designation"]}
    historic |= {("roster_entry", f"{d}/{p}") for d, p in touched["roster_entry"]}
    if historic:
        fresh_history = load_history(conn, historic)
        changes["history"] = snapshot.history.replaced(fresh_history.statuses, fresh_history.versions, historic)
    return replace(snapshot, version=version, **changes)


_EVENTS = ChangeEvent.__table__  # type: ignore[attr-defined]
_GROUPED: dict[str, tuple[Any, str]] = {  # records the snapshot keeps by their owner: (table, owner column)
    "assessment": (Assessment, "person_id"),
    "certification": (Certification, "operator_id"),
    "contract": (Contract, "operator_id"),
}


def _roster_key(entity_id: str, sides: list[dict[str, Any]]) -> tuple[str, str] | None:
    for side in sides:
        if "designation_id" in side and "person_id" in side:
            return side["designation_id"], side["person_id"]
    parts = entity_id.split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else None  # ids holding "/" themselves: read whole


def _rows(conn: Connection, model: Any, column: Any, keys: Iterable[Any]) -> list[Any]:
    ordered, out = sorted(keys), list[Any]()
    for start in range(0, len(ordered), 500):  # bounded IN lists
        out += conn.execute(select(model.__table__).where(column.in_(ordered[start : start + 500]))).all()
    return out


def _replaced(current: dict[Any, Any], keys: Iterable[Any], fresh: dict[Any, Any]) -> dict[Any, Any]:
    """A copy of `current` where every key of `keys` has its fresh value, or is gone when it has none."""
    out = dict(current)
    for key in keys:
        if key in fresh:
            out[key] = fresh[key]
        else:
            out.pop(key, None)
    return out
