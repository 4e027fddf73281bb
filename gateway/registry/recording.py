"""Keeping the registry's past, in the transaction of each change: status periods (C7, B3) and the
earlier versions of designations, contracts, roster entries and provisions. history.py reads them back."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from gateway.registry.changes import Actor, jsonable
from models import Provision, RecordVersion, RosterEntry, StatusPeriod

_PERIODS: Table = StatusPeriod.__table__  # type: ignore[attr-defined]
_VERSIONS: Table = RecordVersion.__table__  # type: ignore[attr-defined]
_ROSTER: Table = RosterEntry.__table__  # type: ignore[attr-defined]
_PROVISIONS: Table = Provision.__table__  # type: ignore[attr-defined]
FIRST_DAY = {"assessment": "notified_on", "certification": "certified_on"}


def record_statuses(conn: Connection, actor: Actor, entity: str, changes: list[tuple[str, str, date | None]]) -> None:
    """(record id, status, first day) per change: the status holds from now on, or, for a record's
    first period (first day given), from the record's own date."""
    if not changes:
        return
    at, today = actor.moment()
    rows = [
        {"entity": entity, "entity_id": i, "status": s, "starts_on": first or today, "recorded_at": at}
        for i, s, first in changes
    ]
    conn.execute(insert(_PERIODS), rows)


def record_versions(conn: Connection, actor: Actor, entity: str, records: dict[str, dict[str, Any]]) -> None:
    """The records (by entity id) as they were until now, when a change replaces them."""
    if not records:
        return
    at, _ = actor.moment()
    rows = [{"entity": entity, "entity_id": i, "record": jsonable(r), "superseded_at": at} for i, r in records.items()]
    conn.execute(insert(_VERSIONS), rows)


def roster_periods(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every period of each (designation, person), oldest first, in the form a roster version keeps."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    persons = sorted({p for _, p in pairs})
    for start in range(0, len(persons), 500):
        query = select(_ROSTER).where(_ROSTER.c.person_id.in_(persons[start : start + 500]))
        for row in conn.execute(query.order_by(_ROSTER.c.valid_from)):
            if (row.designation_id, row.person_id) in pairs:
                found[(row.designation_id, row.person_id)].append(
                    {"valid_from": row.valid_from, "valid_until": row.valid_until}
                )
    return found


def roster_version(periods: list[dict[str, Any]]) -> dict[str, Any]:
    return {"periods": [jsonable(p) for p in periods]}


def provision_periods(conn: Connection, designations: set[str]) -> dict[str, list[dict[str, Any]]]:
    """C5a: every provision period of each designation (those with at least one), by organ and start."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids = sorted(designations)
    for start in range(0, len(ids), 500):
        query = select(_PROVISIONS).where(_PROVISIONS.c.designation_id.in_(ids[start : start + 500]))
        for row in conn.execute(query.order_by(_PROVISIONS.c.organ_id, _PROVISIONS.c.valid_from)):
            found[row.designation_id].append(
                {
                    "designation_id": row.designation_id,
                    "organ_id": row.organ_id,
                    "valid_from": row.valid_from,
                    "valid_until": row.valid_until,
                }
            )
    return found


def provision_version(periods: list[dict[str, Any]]) -> dict[str, Any]:
    return {"periods": [jsonable({k: v for k, v in p.items() if k != "designation_id"}) for p in periods]}
