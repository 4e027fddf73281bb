"""Handler rosters (N1): list them, put a person on one, take a person off one.

A roster entry is a period of (designation, person) (periods.py): a removal ends it and a later
addition starts another, so the roster as it stood on any day stays readable.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.registry.changes import Actor
from gateway.registry.periods import PeriodKind, end_period, list_periods, put_period
from gateway.registry.recording import record_versions, roster_periods, roster_version
from models.bundle import RosterIn


def _keep_roster(conn: Connection, actor: Actor, designation_id: str, person_id: str) -> None:
    """The pair's periods as they stand, kept before a change replaces them (history.py)."""
    periods = roster_periods(conn, {(designation_id, person_id)})[(designation_id, person_id)]
    record_versions(conn, actor, "roster_entry", {f"{designation_id}/{person_id}": roster_version(periods)})


ROSTER = PeriodKind(
    section="rosters",
    entity="roster_entry",
    holder_table="persons",
    action="roster",
    entry=lambda d, p, start, until: RosterIn(designation_id=d, person_id=p, valid_from=start, valid_until=until),
    keep=_keep_roster,
    not_held=lambda d, p: f"person {p!r} is not on the roster of designation {d!r}",
)


def list_roster(
    engine: Engine, designation: str | None, person: str | None, limit: int | None = 100, offset: int = 0
) -> dict[str, Any]:
    """N1: roster entries (every period, ended ones included) of a designation, of a person, or both."""
    return list_periods(ROSTER, engine, designation, person, limit, offset)


def put_roster(
    engine: Engine,
    actor: Actor,
    designation_id: str,
    person_id: str,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> tuple[dict[str, Any], bool]:
    """N1: put a person on a designation's roster, or change the dates of their current entry."""
    return put_period(ROSTER, engine, actor, designation_id, person_id, valid_from, valid_until, today)


def delete_roster(engine: Engine, actor: Actor, designation_id: str, person_id: str, today: date) -> dict[str, Any]:
    """N1: take a person off a designation's roster from today on (404 when no entry of theirs is current)."""
    return end_period(ROSTER, engine, actor, designation_id, person_id, today)
