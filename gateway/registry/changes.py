"""R4: every change to the registry is recorded, in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gateway.audit.chain import append
from gateway.decision.calendar import local_day
from gateway.registry.invalidation import announce
from models.types import utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change (the token's subject, or the operator of the CLI) and when: `at` by the
    gateway's clock and `today` its day in the configured zone (None: the system clock, its UTC day).
    The registry's history (history.py) dates each change by them."""

    sub: str
    request_id: str | None = None
    at: datetime | None = None
    today: date | None = None

    @classmethod
    def now(cls, sub: str, zone: ZoneInfo, request_id: str | None = None) -> Actor:
        """An actor changing the registry now, its day counted in `zone` (the configured zone)."""
        at = utcnow()
        return cls(sub, request_id, at, local_day(at, zone))

    def moment(self) -> tuple[datetime, date]:
        at = self.at or utcnow()
        return at, self.today or at.date()


def jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row.items()}


def record_changes(conn: Connection, actor: Actor, changes: list[dict[str, Any]]) -> None:
    """changes: dicts with action, entity, entity_id, before, after."""
    if not changes:
        return
    at = utcnow()
    rows = [
        {
            "at": at,
            "actor": actor.sub,
            "request_id": actor.request_id,
            "action": c["action"],
            "entity": c["entity"],
            "entity_id": c["entity_id"],
            "before": jsonable(c.get("before")),
            "after": jsonable(c.get("after")),
        }
        for c in changes
    ]
    append(conn, "changes", rows)
    announce(conn, {c["entity"] for c in changes})
