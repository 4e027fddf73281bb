"""R4: every change to the registry is recorded, in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Connection, Engine, select
from sqlmodel import col

from gateway.audit.chain import append
from gateway.decision.calendar import local_day
from gateway.decision.policy import Policy
from gateway.registry.invalidation import announce
from models import ChangeEvent
from models.types import utcnow

log = structlog.get_logger("gateway.registry")


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


def record_policy_swap(engine: Engine, before: Policy, after: Policy, actor: str) -> None:
    """R4: a policy change is recorded once, by whichever worker swapped first."""
    try:
        with engine.begin() as conn:
            latest = conn.execute(
                select(col(ChangeEvent.entity_id))
                .where(col(ChangeEvent.entity) == "policy")
                .order_by(ChangeEvent.seq.desc())  # type: ignore[union-attr]
                .limit(1)
            ).scalar()
            if latest == after.version:
                return
            record_changes(
                conn,
                Actor(actor),
                [
                    {
                        "action": "policy.swap",
                        "entity": "policy",
                        "entity_id": after.version,
                        "before": {"version": before.version, "files": list(before.files)},
                        "after": {"version": after.version, "files": list(after.files)},
                    }
                ],
            )
    except Exception as exc:
        log.error("policy.swap_not_recorded", error=type(exc).__name__, version=after.version)
