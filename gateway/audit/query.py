"""The auditors' reads of the decision log (R1) and the change log (R4): pure queries over a Connection.

Every answer is newest first (by `seq`) and paged by keyset: a page is the rows below the last `seq`
seen. A since/until window is paged inside the seq range it occupies (`_newest`), so that a window far
from the newest rows does not walk past every row logged after it. C9: a decision is shown with the ids
of the facts it rested on, never its raw `inputs`; an assessment's change events are shown without the
assessment's content.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Engine, Row, Select, Table, func, literal, select

from gateway.audit.record import AUDITOR_FIELDS
from gateway.db import READ_ONLY
from gateway.decision.reasons import without_assessment_details
from gateway.limits import instant_error
from models import ChangeEvent, DecisionRecord, Designation
from models.audit_indexes import decision_designation

DECISIONS = DecisionRecord.__table__  # type: ignore[attr-defined]
CHANGES = ChangeEvent.__table__  # type: ignore[attr-defined]
DESIGNATIONS = Designation.__table__  # type: ignore[attr-defined]
EXPORT_CHUNK = 5_000

# C9: the columns an auditor may see, as the decision record says (gateway/audit/record.py).
_DECISION_COLUMNS: tuple[Column[Any], ...] = tuple(DECISIONS.c[name] for name in AUDITOR_FIELDS)
_CHANGE_COLUMNS: tuple[Column[Any], ...] = tuple(
    CHANGES.c[name] for name in ("seq", "at", "actor", "request_id", "action", "entity", "entity_id", "before", "after")
)
_WITHHELD_ENTITIES = frozenset({"assessment"})  # C9: assessment records are for administrators only


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """What an auditor asks for; None means any. `since` is inclusive, `until` exclusive (on logged_at)."""

    person: str | None = None
    document: str | None = None
    allowed: bool | None = None
    reason: str | None = None
    organ: str | None = None
    designation: str | None = None
    caller: str | None = None
    simulation: bool | None = None
    channel: str | None = None  # authzen, release or search
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = DECISIONS.c
        out: list[ColumnElement[bool]] = []
        for column, value in (
            (c.person_id, self.person),
            (c.document_id, self.document),
            (c.allowed, self.allowed),
            (c.caller_sub, self.caller),
            (c.simulation, self.simulation),
            (c.channel, self.channel),
        ):
            if value is not None:
                out.append(column == value)
        if self.reason is not None:  # one code among the space-separated reason_codes
            padded = literal(" ") + c.reason_codes + literal(" ")
            out.append(padded.contains(f" {self.reason} ", autoescape=True))
        if self.designation is not None:
            out.append(decision_designation() == self.designation)
        if self.organ is not None:  # D1: the designating organ of the designation the decision rested on
            designated_by = select(DESIGNATIONS.c.id).where(DESIGNATIONS.c.organ_id == self.organ)
            out.append(decision_designation().in_(designated_by))
        out.extend(_window(c.logged_at, self.since, self.until))
        return out

    def key(self) -> str:
        """A stable text of the filter, so that a cursor can be bound to the query that made it."""
        return "|".join(query_key_part(getattr(self, f.name)) for f in fields(self))


def query_key_part(value: Any) -> str:
    """One filter value as text; an instant in UTC, however the caller wrote its offset."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else repr(value)


_SPACED_OFFSET = re.compile(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$")  # a '+' that a query string turned into ' '


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant with its offset (`Z` or +09:00); ValueError, in words for people, otherwise."""
    try:
        instant = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1+\2", value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 instant, e.g. 2026-04-01T00:00:00+09:00") from None
    if instant.tzinfo is None:
        raise ValueError(f"{value!r} has no offset: give one, e.g. +09:00 or Z")
    if (error := instant_error(instant)) is not None:
        raise ValueError(error)
    return instant


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(column >= since)
    if until is not None:
        out.append(column < until)
    return out


# --- time windows --------------------------------------------------------------------------------
#
# Newest first means walking `seq` down from the newest row. A window far in the past would make that
# walk read every row logged after it before the first match (PostgreSQL's planner cannot foresee
# this: it takes matches to be spread evenly over `seq`). So a windowed page first learns where its
# rows lie in `seq`, then walks only that range, with every condition still applied: the time column
# is not monotone in `seq` (replicas' clocks, group commits), so a range is a superset, never a filter.

Fetch = Callable[[int | None, int | None, int], Sequence[Row[Any]]]  # (below, lowest, n): newest first


@dataclass(frozen=True, slots=True)
class _Landmarks:
    """Where a window lies in `seq`, from probes of one index entry each: estimates, never bounds."""

    first: int  # seq of the window's earliest-logged row (the log's oldest row when there is no `since`)
    last: int  # seq of its latest-logged row (the newest row when there is no `until`)
    top: int  # where the page starts: just below the cursor, or the log's newest row

    @property
    def spread(self) -> int:
        """About how many rows the window holds, were the log in time order."""
        return abs(self.last - self.first) + 1


@dataclass(frozen=True, slots=True)
class _Windowed:
    """An audit query with a time window: the rows must match `conditions`, the window among them."""

    table: Table
    at: Column[Any]  # the time column the window bounds
    since: datetime | None
    until: datetime | None
    conditions: list[ColumnElement[bool]]

    def landmarks(self, conn: Connection, below: int | None) -> _Landmarks | None:
        """None when nothing was logged in the window. One statement of two or three probes."""
        seq, inside = self.table.c.seq, _window(self.at, self.since, self.until)

        def edge(order: Any) -> Any:
            return select(seq).where(*inside).order_by(order).limit(1).scalar_subquery()

        def end(of: Any) -> Any:
            return select(of(seq)).scalar_subquery()

        probes = [edge(self.at.asc()) if self.since is not None else end(func.min)]
        probes.append(edge(self.at.desc()) if self.until is not None else end(func.max))
        if self.until is not None and below is None:  # only a window that ends needs to know what follows it
            probes.append(end(func.max))
        first, last, *newest = conn.execute(select(*probes)).one()
        if first is None or last is None:
            return None
        return _Landmarks(first, last, below - 1 if below is not None else newest[0] if newest else last)

    def seq_range(self, conn: Connection) -> tuple[int, int] | None:
        """The lowest and highest seq of the matching rows, exactly; None when there are none. Read by
        whatever the indexes offer for the conditions (the window, and a person's or a caller's rows);
        OFFSET 0 keeps the subquery whole, so that PostgreSQL aggregates what it reads instead of turning
        min() and max() into walks of the primary key from either end, the very walk this avoids."""
        rows = select(self.table.c.seq).where(*self.conditions).offset(0).subquery()
        lowest, highest = conn.execute(select(func.min(rows.c.seq), func.max(rows.c.seq))).one()
        return None if lowest is None else (lowest, highest)


def _newest(conn: Connection, query: _Windowed, below: int | None, n: int, fetch: Fetch) -> list[Row[Any]]:
    """The `n` newest matching rows below `below`.

    Each step reads whichever is likely shorter: the rows logged after the window (down from `below`),
    or the matching rows themselves, to learn their exact seq range. Below the window's earliest-logged
    row, only rows logged out of order can still match: they are looked for when a page runs short.
    """
    if query.since is None and query.until is None:
        return list(fetch(below, None, n))
    marks = query.landmarks(conn, below)
    if marks is None:
        return []
    if query.until is not None and marks.top - marks.last > marks.spread:
        bounds = query.seq_range(conn)
        return [] if bounds is None else list(fetch(min(marks.top, bounds[1]) + 1, bounds[0], n))
    start = marks.first if query.since is not None else None
    rows = list(fetch(below, start, n))
    if len(rows) == n or start is None:
        return rows
    lowest = None  # walk on down to the oldest row, unless the matching rows are the shorter read
    oldest = conn.execute(select(func.min(query.table.c.seq))).scalar_one()
    if start - oldest > marks.spread and (bounds := query.seq_range(conn)) is not None:
        lowest = bounds[0]
    more = fetch(start if below is None else min(below, start), lowest, n - len(rows))
    return rows + list(more)


# --- shapes --------------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.isoformat()


def _fact_ids(facts: Any) -> dict[str, Any]:
    """R1, C9: the ids of the facts used (a search's: the ids it found); anything that is not a plain id,
    or a list of them, is left out."""
    if not isinstance(facts, dict):
        return {}
    return {
        k: v
        for k, v in facts.items()
        if v is None or isinstance(v, str | int) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
    }


def decision_item(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "decision_id": m["decision_id"],
        "logged_at": _iso(m["logged_at"]),
        "evaluated_at": _iso(m["evaluated_at"]),
        "caller": {"sub": m["caller_sub"], "client": m["caller_client"]},
        "request_id": m["request_id"],
        "channel": m["channel"],
        "person": m["person_id"],
        "document": m["document_id"],
        "action": m["action"],
        "decision": "allow" if m["allowed"] else "deny",
        # C9: auditors read every code; an assessment's details stay with the administrators
        "reasons": without_assessment_details(
            [{"code": r.get("code"), "message": r.get("message")} for r in m["reasons"] or []]
        ),
        "policy_version": m["policy_version"],
        "facts": _fact_ids(m["facts"]),
        "simulation": bool(m["simulation"]),
        "latency_us": m["latency_us"],
    }


def change_item(row: Any) -> dict[str, Any]:
    m = row._mapping
    item = {
        "seq": m["seq"],
        "at": _iso(m["at"]),
        "actor": m["actor"],
        "request_id": m["request_id"],
        "action": m["action"],
        "entity": m["entity"],
        "entity_id": m["entity_id"],
        "before": m["before"],
        "after": m["after"],
    }
    if m["entity"] in _WITHHELD_ENTITIES:  # C9: which fields changed, never their values
        before, after = m["before"] or {}, m["after"] or {}
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        item |= {"before": None, "after": None, "withheld": True, "fields_changed": changed}
    return item


# --- decisions -----------------------------------------------------------------------------------


def _decisions(filters: DecisionFilter, below: int | None, limit: int, lowest: int | None = None) -> Select[Any]:
    """One page's statement: the `limit` newest matches with lowest <= seq < below."""
    conditions = filters.conditions()
    if below is not None:
        conditions.append(DECISIONS.c.seq < below)
    if lowest is not None:
        conditions.append(DECISIONS.c.seq >= lowest)
    return select(*_DECISION_COLUMNS).where(*conditions).order_by(DECISIONS.c.seq.desc()).limit(limit)


def _decision_rows(conn: Connection, filters: DecisionFilter, below: int | None, n: int) -> list[Row[Any]]:
    def fetch(below: int | None, lowest: int | None, n: int) -> Sequence[Row[Any]]:
        return conn.execute(_decisions(filters, below, n, lowest)).all()

    windowed = _Windowed(DECISIONS, DECISIONS.c.logged_at, filters.since, filters.until, filters.conditions())
    return _newest(conn, windowed, below, n, fetch)


def list_decisions(
    conn: Connection, filters: DecisionFilter, limit: int, below: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page, newest first, and the `seq` to continue below (None: this was the last page)."""
    rows = _decision_rows(conn, filters, below, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [decision_item(r) for r in rows], (rows[-1].seq if more else None)


def get_decision(conn: Connection, decision_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(*_DECISION_COLUMNS).where(DECISIONS.c.decision_id == decision_id)).first()
    return None if row is None else decision_item(row)


def count_decisions(conn: Connection, filters: DecisionFilter) -> int:
    query = select(func.count()).select_from(DECISIONS).where(*filters.conditions())
    return int(conn.execute(query).scalar_one())


def decision_chunks(
    engine: Engine, filters: DecisionFilter, chunk: int = EXPORT_CHUNK
) -> Iterator[list[dict[str, Any]]]:
    """Every matching decision, newest first, in chunks of `chunk` rows: constant memory, and each
    chunk its own short read transaction (keyset paging), so an export never holds the database."""
    below: int | None = None
    while True:
        with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
            rows = _decision_rows(conn, filters, below, chunk)
        if not rows:
            return
        yield [decision_item(r) for r in rows]
        if len(rows) < chunk:
            return
        below = rows[-1].seq


# --- change events -------------------------------------------------------------------------------


def _changes(
    since: datetime | None, until: datetime | None, below: int | None, limit: int, lowest: int | None = None
) -> Select[Any]:
    conditions = _window(CHANGES.c.at, since, until)
    if below is not None:
        conditions.append(CHANGES.c.seq < below)
    if lowest is not None:
        conditions.append(CHANGES.c.seq >= lowest)
    return select(*_CHANGE_COLUMNS).where(*conditions).order_by(CHANGES.c.seq.desc()).limit(limit)


def list_changes(
    conn: Connection,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    below: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    def fetch(below: int | None, lowest: int | None, n: int) -> Sequence[Row[Any]]:
        return conn.execute(_changes(since, until, below, n, lowest)).all()

    windowed = _Windowed(CHANGES, CHANGES.c.at, since, until, _window(CHANGES.c.at, since, until))
    rows = _newest(conn, windowed, below, limit + 1, fetch)
    more = len(rows) > limit
    rows = rows[:limit]
    return [change_item(r) for r in rows], (rows[-1].seq if more else None)
