"""Handler rosters (N1): list them, put a person on one, take a person off one.

A roster entry is a period: a removal ends it (its `until` becomes the day before the removal) and a
later addition starts another, so the roster as it stood on any day stays readable. Every change
keeps the pair's periods as they were (recording.py), and a decision about an instant before the
change sees them (history.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from gateway.db import READ_ONLY
from gateway.errors import InvalidInput, NotFound
from gateway.registry.admin import _event, _existing, _local, _writing, roster_view
from gateway.registry.changes import Actor
from gateway.registry.importer import T, validate
from gateway.registry.recording import record_versions, roster_periods, roster_version
from models.bundle import Bundle, RosterIn


def list_roster(
    engine: Engine, designation: str | None, person: str | None, limit: int | None = 100, offset: int = 0
) -> dict[str, Any]:
    """N1: roster entries (every period, ended ones included) of a designation, of a person, or both,
    ordered by designation, person and start; and how many match."""
    table = T["rosters"]
    where = []
    if designation is not None:
        where.append(table.c.designation_id == designation)
    if person is not None:
        where.append(table.c.person_id == person)
    order = (table.c.designation_id, table.c.person_id, table.c.valid_from)
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(select(table).where(*where).order_by(*order).limit(limit).offset(offset))
        items = [roster_view(dict(r._mapping)) for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _latest_period(conn: Connection, designation_id: str, person_id: str) -> dict[str, Any] | None:
    """The pair's latest roster period (by start), locked for the change."""
    table = T["rosters"]
    query = select(table).where(table.c.designation_id == designation_id, table.c.person_id == person_id)
    row = conn.execute(query.order_by(table.c.valid_from.desc()).limit(1).with_for_update()).first()
    return dict(row._mapping) if row else None


def _ended(period: dict[str, Any] | None, today: date) -> bool:
    """No period, or one that ended before today (or was ended before it began)."""
    if period is None or period["valid_until"] is None:
        return period is None
    return period["valid_until"] < max(today, period["valid_from"])


def _keep_roster(conn: Connection, actor: Actor, designation_id: str, person_id: str) -> None:
    """The pair's periods as they stand, kept before a change replaces them (history.py)."""
    periods = roster_periods(conn, {(designation_id, person_id)})[(designation_id, person_id)]
    record_versions(conn, actor, "roster_entry", {f"{designation_id}/{person_id}": roster_version(periods)})


def put_roster(
    engine: Engine,
    actor: Actor,
    designation_id: str,
    person_id: str,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> tuple[dict[str, Any], bool]:
    """N1: put a person on a designation's roster, or change the dates of their current entry:
    (entry, created).

    The current entry is the latest period unless it ended before today; then (or with no period at
    all) a new period starts, on `valid_from` or today. Without `valid_from` a current entry keeps
    its start. The dates the entry had are kept (history.py): a change never reaches back.
    """
    table = T["rosters"]
    with _writing(engine) as conn:
        _existing(conn, "designations", designation_id)
        _existing(conn, "persons", person_id)
        latest = _latest_period(conn, designation_id, person_id)
        before = None if _ended(latest, today) else latest
        start = valid_from or (before["valid_from"] if before else today)
        entry = RosterIn(designation_id=designation_id, person_id=person_id, valid_from=start, valid_until=valid_until)
        errors = _local(validate(Bundle(rosters=[entry]), conn))
        if errors:
            raise InvalidInput("the roster entry is refused; nothing was changed", errors, status=422)
        after = {
            "designation_id": designation_id,
            "person_id": person_id,
            "valid_from": start,
            "valid_until": valid_until,
        }
        if after != before:
            if latest is not None:
                _keep_roster(conn, actor, designation_id, person_id)
            if before is None:
                conn.execute(insert(table).values(**after))
            else:
                where = (
                    table.c.designation_id == designation_id,
                    table.c.person_id == person_id,
                    table.c.valid_from == before["valid_from"],
                )
                conn.execute(update(table).where(*where).values(valid_from=start, valid_until=valid_until))
            action = "roster.add" if before is None else "roster.change"
            _event(conn, actor, action, "roster_entry", f"{designation_id}/{person_id}", before, after)
    return roster_view(after), before is None


def delete_roster(engine: Engine, actor: Actor, designation_id: str, person_id: str, today: date) -> dict[str, Any]:
    """N1: take a person off a designation's roster from today on (404 when no entry of theirs is
    current). The entry is ended, not deleted: its `until` becomes the day before today (or, for an
    entry that had not begun, the day before its start), so the roster of every earlier day stays;
    a decision about an instant before the removal still sees the entry (history.py)."""
    table = T["rosters"]
    with _writing(engine) as conn:
        before = _latest_period(conn, designation_id, person_id)
        if _ended(before, today):
            raise NotFound(f"person {person_id!r} is not on the roster of designation {designation_id!r}")
        assert before is not None
        until = max(today, before["valid_from"]) - timedelta(days=1)
        _keep_roster(conn, actor, designation_id, person_id)
        where = (
            table.c.designation_id == designation_id,
            table.c.person_id == person_id,
            table.c.valid_from == before["valid_from"],
        )
        conn.execute(update(table).where(*where).values(valid_until=until))
        after = {**before, "valid_until": until}
        _event(conn, actor, "roster.remove", "roster_entry", f"{designation_id}/{person_id}", before, after)
    return roster_view(after)
