"""What runs out soon: the renewals an administrator must see to (`registry expiring`,
GET /v1/admin/expiring): clearances by the running policy's validity periods (C3; only the assessment
that counts, C4), contracts by their last day (B3), designations by their expiry (D2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from gateway.db import READ_ONLY
from gateway.decision.calendar import validity_ends_on
from gateway.decision.engine import recency
from gateway.decision.policy import Policy
from gateway.registry.tables import T
from models.vocabulary import Result, Status

_WINDOW = re.compile(r"^\s*(\d{1,6})\s*([dw]?)\s*$", re.IGNORECASE)
MAX_WINDOW_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class ExpiringItem:
    kind: str  # assessment | contract | designation
    id: str
    concerns: dict[str, str]  # person, operator, organ
    last_day: date  # the last day it is valid or in force
    days_left: int  # 0 on the last day itself

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "concerns": self.concerns,
            "last_day": self.last_day.isoformat(),
            "days_left": self.days_left,
        }


def parse_window(text: str) -> int:
    """The report's window in days, written `90d`, `12w` or `90`."""
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a window: write it as 90d, 12w or 90 (days)")
    days = int(match[1]) * (7 if match[2].lower() == "w" else 1)
    if days > MAX_WINDOW_DAYS:
        raise ValueError(f"a window of {days} days is too long; at most {MAX_WINDOW_DAYS}")
    return days


def _counting_assessments(conn: Connection, today: date) -> list[Any]:
    """C4: per person, organ and scheme only the latest assessment counts; kept if favourable and active."""
    table = T["assessments"]
    latest: dict[tuple[str, str, str], Any] = {}
    for row in conn.execute(select(table).where(table.c.notified_on <= today)):
        key = (row.person_id, row.organ_id, row.scheme)
        if key not in latest or recency(row) > recency(latest[key]):
            latest[key] = row
    return [row for row in latest.values() if row.result == Result.FAVOURABLE and row.status == Status.ACTIVE]


def expiring(engine: Engine, within_days: int, today: date, policy: Policy) -> list[ExpiringItem]:
    """Clearances (C3, by the running policy's periods), contracts and designations in force today whose
    last day falls within `within_days` days of `today`, soonest first."""
    horizon = today + timedelta(days=within_days)
    items: list[ExpiringItem] = []

    def add(kind: str, entity_id: str, last: date, **concerns: str) -> None:
        items.append(ExpiringItem(kind, entity_id, concerns, last, (last - today).days))

    contracts, designations = T["contracts"], T["designations"]
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        for a in _counting_assessments(conn, today):
            validity = policy.validity.get(a.scheme)
            if validity is None:
                continue
            last = validity_ends_on(a.notified_on, validity.years, validity.reading)
            if today <= last <= horizon:
                add("assessment", a.id, last, person=a.person_id, organ=a.organ_id)
        due = select(contracts).where(contracts.c.ends_on >= today, contracts.c.ends_on <= horizon)
        for k in conn.execute(due):
            add("contract", k.id, k.ends_on, operator=k.operator_id, organ=k.organ_id)
        due = select(designations).where(
            designations.c.cancelled_on.is_(None),
            designations.c.expires_on >= today,
            designations.c.expires_on <= horizon,
        )
        for d in conn.execute(due):
            add("designation", d.id, d.expires_on, organ=d.organ_id)
    return sorted(items, key=lambda i: (i.last_day, i.kind, i.id))
