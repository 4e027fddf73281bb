"""Calls to the registry administration API and what they wrote: change events (R4) and ledger rows (D6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models import ChangeEvent, DesignationEvent
from tests.support import Gateway

ADMIN = "registry:admin"


def call(
    gw: Gateway,
    method: str,
    path: str,
    body: Any = None,
    scope: str = ADMIN,
    params: dict[str, str] | None = None,
    **headers: str,
) -> Any:
    kwargs: dict[str, Any] = {"headers": gw.keys.auth(scope) | headers, "params": params}
    if body is not None:
        kwargs["json"] = body
    return gw.client.request(method, "/v1/admin" + path, **kwargs)


def event_count(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one())


def events_since(gw: Gateway, count: int) -> list[Any]:
    with gw.container.engine.connect() as conn:
        query = select(ChangeEvent.__table__).order_by(ChangeEvent.seq).offset(count)  # type: ignore[arg-type]
        return list(conn.execute(query))


def one_event(gw: Gateway, count: int) -> Any:
    """R4: the change wrote exactly one event."""
    events = events_since(gw, count)
    assert len(events) == 1, events
    return events[0]


def ledger(gw: Gateway, designation_id: str) -> list[Any]:
    table = DesignationEvent.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:
        query = select(table).where(table.c.designation_id == designation_id).order_by(table.c.seq)
        return list(conn.execute(query))
