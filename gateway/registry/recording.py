"""Keeping the registry's past, in the transaction of each change: status periods (C7, B3) and the
earlier versions of designations, contracts and roster entries. history.py reads them back."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from gateway.registry.changes import Actor, jsonable
from models import RecordVersion, RosterEntry, StatusPeriod

_PERIODS: Table = StatusPeriod.__table__  # type: ignore[attr-defined]
_VERSIONS: Table = RecordVersion.__table__  # type: ignore[attr-defined]
_ROSTER: Table = RosterEntry.__table__  # type: ignore[attr-defined]
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
