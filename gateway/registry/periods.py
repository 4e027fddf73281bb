"""Records that are periods of a (designation, holder) pair: roster entries (N1, the holder is a
person) and provisions (C5a, the holder is an organ). List them, start or change one, end one.

An entry is a period: ending it sets its `until` to the day before (it is never deleted), and a later
start makes another period, so what stood on any day stays readable. Every change first keeps the
periods as they were (recording.py), and a decision about an instant before the change sees them
(history.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from gateway.db import READ_ONLY
from gateway.errors import NotFound, RefusedData
from gateway.registry.admin import existing_record, local_errors, record_event, writing
from gateway.registry.bundle_checks import validate
from gateway.registry.changes import Actor
from gateway.registry.tables import PERIOD_KEYS, T
from models.bundle import Bundle


@dataclass(frozen=True)
class PeriodKind:
    section: str  # the bundle section and table: "rosters", "provisions"
    entity: str  # in the change log: "roster_entry", "provision"
    holder_table: str  # "persons", "organs"
    action: str  # change log actions: "roster.add", "provision.add", ...
    entry: Callable[[str, str, date, date | None], Any]  # the bundle entry, validated as an import would
    keep: Callable[[Connection, Actor, str, str], None]  # keeps the periods as they stand before a change
    not_held: Callable[[str, str], str]  # the 404 message when no period is current

    @property
    def holder(self) -> str:
        return PERIOD_KEYS[self.section][1]

    def view(self, row: dict[str, Any]) -> dict[str, Any]:
        """An entry in the bundle's words (`from`, `until`)."""
        return {
            "designation_id": row["designation_id"],
            self.holder: row[self.holder],
            "from": row["valid_from"],
            "until": row["valid_until"],
        }


def list_periods(
    kind: PeriodKind,
    engine: Engine,
    designation: str | None,
    holder: str | None,
    limit: int | None = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Every period (ended ones included) of a designation, of a holder, or both, ordered by
    designation, holder and start; and how many match."""
    table = T[kind.section]
    where = []
    if designation is not None:
        where.append(table.c.designation_id == designation)
    if holder is not None:
        where.append(table.c[kind.holder] == holder)
    order = (table.c.designation_id, table.c[kind.holder], table.c.valid_from)
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(select(table).where(*where).order_by(*order).limit(limit).offset(offset))
        items = [kind.view(dict(r._mapping)) for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _where(kind: PeriodKind, designation_id: str, holder_id: str) -> tuple[Any, ...]:
    table = T[kind.section]
    return table.c.designation_id == designation_id, table.c[kind.holder] == holder_id


def _latest_period(kind: PeriodKind, conn: Connection, designation_id: str, holder_id: str) -> dict[str, Any] | None:
    """The pair's latest period (by start), locked for the change."""
    table = T[kind.section]
    query = select(table).where(*_where(kind, designation_id, holder_id))
    row = conn.execute(query.order_by(table.c.valid_from.desc()).limit(1).with_for_update()).first()
    return dict(row._mapping) if row else None


def _ended(period: dict[str, Any] | None, today: date) -> bool:
    """No period, or one that ended before today (or was ended before it began)."""
    if period is None or period["valid_until"] is None:
        return period is None
    return period["valid_until"] < max(today, period["valid_from"])


def put_period(
    kind: PeriodKind,
    engine: Engine,
    actor: Actor,
    designation_id: str,
    holder_id: str,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> tuple[dict[str, Any], bool]:
    """Start a period for the pair, or change the dates of its current one: (entry, created).

    The current period is the latest unless it ended before today; then (or with none at all) a new
    period starts, on `valid_from` or today. Without `valid_from` a current period keeps its start.
    The dates the pair had are kept (history.py): a change never reaches back.
    """
    table = T[kind.section]
    with writing(engine) as conn:
        existing_record(conn, "designations", designation_id)
        existing_record(conn, kind.holder_table, holder_id)
        latest = _latest_period(kind, conn, designation_id, holder_id)
        before = None if _ended(latest, today) else latest
        start = valid_from or (before["valid_from"] if before else today)
        entry = kind.entry(designation_id, holder_id, start, valid_until)
        errors = local_errors(validate(Bundle(**{kind.section: [entry]}), conn))
        if errors:
            what = kind.entity.replace("_", " ")
            raise RefusedData(f"the {what} is refused; nothing was changed", errors)
        after = {"designation_id": designation_id, kind.holder: holder_id, "valid_from": start}
        after["valid_until"] = valid_until
        if after != before:
            if latest is not None:
                kind.keep(conn, actor, designation_id, holder_id)
            if before is None:
                conn.execute(insert(table).values(**after))
            else:
                where = (*_where(kind, designation_id, holder_id), table.c.valid_from == before["valid_from"])
                conn.execute(update(table).where(*where).values(valid_from=start, valid_until=valid_until))
            action = f"{kind.action}.add" if before is None else f"{kind.action}.change"
            record_event(conn, actor, action, kind.entity, f"{designation_id}/{holder_id}", before, after)
    return kind.view(after), before is None


def end_period(
    kind: PeriodKind, engine: Engine, actor: Actor, designation_id: str, holder_id: str, today: date
) -> dict[str, Any]:
    """End the pair's current period from today on (NotFound when none is current): its `until`
    becomes the day before today (or, for a period that had not begun, the day before its start), so
    every earlier day stays as it was; a decision about an instant before the change still sees it."""
    table = T[kind.section]
    with writing(engine) as conn:
        before = _latest_period(kind, conn, designation_id, holder_id)
        if _ended(before, today):
            raise NotFound(kind.not_held(designation_id, holder_id))
        assert before is not None
        until = max(today, before["valid_from"]) - timedelta(days=1)
        kind.keep(conn, actor, designation_id, holder_id)
        where = (*_where(kind, designation_id, holder_id), table.c.valid_from == before["valid_from"])
        conn.execute(update(table).where(*where).values(valid_until=until))
        after = {**before, "valid_until": until}
        record_event(conn, actor, f"{kind.action}.remove", kind.entity, f"{designation_id}/{holder_id}", before, after)
    return kind.view(after)
