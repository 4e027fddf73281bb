"""Provisions (C5a): a designating organ provides a designation's information to another organ,
whose cleared staff on the roster may then handle it as their own organ's, from the provision's
first day through its last. List them, provide, end a provision.

A provision is a period of (designation, receiving organ) (periods.py): ending it sets its last day
and a later provision starts another period, so the provisions in force on any day stay readable.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.registry.changes import Actor
from gateway.registry.periods import PeriodKind, end_period, list_periods, put_period
from gateway.registry.recording import provision_periods, provision_version, record_versions
from models.bundle import ProvisionIn


def _keep_provisions(conn: Connection, actor: Actor, designation_id: str, organ_id: str) -> None:
    """Every provision period of the designation as it stands, kept before a change (history.py)."""
    periods = provision_periods(conn, {designation_id}).get(designation_id, [])
    record_versions(conn, actor, "provision", {designation_id: provision_version(periods)})


PROVISION = PeriodKind(
    section="provisions",
    entity="provision",
    holder_table="organs",
    action="provision",
    entry=lambda d, o, start, until: ProvisionIn(designation_id=d, organ_id=o, valid_from=start, valid_until=until),
    keep=_keep_provisions,
    not_held=lambda d, o: f"designation {d!r} is not provided to organ {o!r}",
)


def list_provisions(
    engine: Engine, designation: str | None, organ: str | None, limit: int | None = 100, offset: int = 0
) -> dict[str, Any]:
    """C5a: provision periods (ended ones included) of a designation, to an organ, or both."""
    return list_periods(PROVISION, engine, designation, organ, limit, offset)


def provide(
    engine: Engine,
    actor: Actor,
    designation_id: str,
    organ_id: str,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> tuple[dict[str, Any], bool]:
    """C5a: provide a designation to another organ from `valid_from` (default today), or change the
    dates of the current provision: (provision, created)."""
    return put_period(PROVISION, engine, actor, designation_id, organ_id, valid_from, valid_until, today)


def end_provision(engine: Engine, actor: Actor, designation_id: str, organ_id: str, today: date) -> dict[str, Any]:
    """C5a: end the current provision to `organ_id` from today on (404 when none is current)."""
    return end_period(PROVISION, engine, actor, designation_id, organ_id, today)
