"""The auditors' API (api.md, "Audit"): every route needs `audit:read`, and none changes anything.

Thin: parse and check the query, run `gateway.audit.query` / `report` in a worker thread over a
read-only transaction, shape the answer. C9: decisions are shown without their raw inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from gateway.api.deps import ContainerDep, read_only, scoped
from gateway.audit import export
from gateway.audit.cursor import make_cursor, read_cursor
from gateway.audit.query import (
    DecisionFilter,
    decision_chunks,
    get_decision,
    list_changes,
    list_decisions,
    parse_instant,
    query_key_part,
)
from gateway.audit.report import ACTS, MAX_YEAR, MIN_YEAR, annual_report
from gateway.decision.reasons import REASON_CODES
from gateway.errors import FieldError, InvalidInput, NotFound

T = TypeVar("T")
_DECISION_ID = re.compile(r"[0-9A-Za-z]{1,32}")


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"  # audit answers name people: keep them out of caches


router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[scoped("audit:read"), Depends(_no_store)])

ReasonCode = StrEnum("ReasonCode", {code: code for code in REASON_CODES})  # type: ignore[misc]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page (at most 500)")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page; omit for the newest")]
Since = Annotated[
    str | None,
    Query(description="ISO 8601 instant with an offset (write `+` as %2B); from this instant on (inclusive)"),
]
Until = Annotated[str | None, Query(description="ISO 8601 instant with an offset; before this instant (exclusive)")]


def _instant(name: str, value: str | None, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        errors.append(FieldError(("query", name), str(exc)))
        return None


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    errors: list[FieldError] = []
    start, end = _instant("since", since, errors), _instant("until", until, errors)
    if start is not None and end is not None and end <= start:
        errors.append(FieldError(("query", "until"), "until must be later than since"))
    if errors:
        raise InvalidInput("the time window is invalid", errors)
    return start, end


def decision_filter(
    person: Annotated[str | None, Query(description="the person decided about")] = None,
    document: Annotated[str | None, Query(description="the document asked for")] = None,
    decision: Annotated[Literal["allow", "deny"] | None, Query()] = None,
    reason: Annotated[ReasonCode | None, Query(description="one reason code among the decision's")] = None,
    organ: Annotated[str | None, Query(description="the designating organ of the decision's designation")] = None,
    designation: Annotated[str | None, Query(description="the designation the decision rested on")] = None,
    caller: Annotated[str | None, Query(description="the calling system (the token's sub)")] = None,
    simulation: Annotated[bool | None, Query(description="only simulations, or only real decisions")] = None,
    channel: Annotated[
        Literal["authzen", "release", "search"] | None,
        Query(description="authzen (evaluations), release (document fetches) or search (AuthZEN searches)"),
    ] = None,
    since: Since = None,
    until: Until = None,
) -> DecisionFilter:
    texts = {"person": person, "document": document, "organ": organ, "designation": designation, "caller": caller}
    nul = [
        FieldError(("query", k), "a NUL character is never part of an id")
        for k, v in texts.items()
        if v and "\x00" in v
    ]
    if nul:
        raise InvalidInput("the filters are invalid", nul)
    start, end = _window(since, until)
    return DecisionFilter(
        person=person,
        document=document,
        allowed=None if decision is None else decision == "allow",
        reason=None if reason is None else reason.value,
        organ=organ,
        designation=designation,
        caller=caller,
        simulation=simulation,
        channel=channel,
        since=start,
        until=end,
    )


Filters = Annotated[DecisionFilter, Depends(decision_filter)]


def _below(log: str, cursor: str | None, query_key: str) -> int | None:
    if cursor is None:
        return None
    try:
        return read_cursor(log, cursor, query_key)
    except ValueError as exc:
        raise InvalidInput("the cursor is invalid", [FieldError(("query", "cursor"), str(exc))]) from exc


def _page(log: str, items: list[dict[str, Any]], next_seq: int | None, query_key: str) -> dict[str, Any]:
    return {"items": items, "next_cursor": None if next_seq is None else make_cursor(log, next_seq, query_key)}


@router.get("/decisions", summary="Decisions, newest first, paged by an opaque cursor")
async def decisions(
    container: ContainerDep, filters: Filters, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    below = _below("decisions", cursor, filters.key())
    items, next_seq = await read_only(container.engine, lambda conn: list_decisions(conn, filters, limit, below))
    return _page("decisions", items, next_seq, filters.key())


@router.get("/decisions/{decision_id}", summary="One decision with the ids of the facts it rested on")
async def decision(decision_id: str, container: ContainerDep) -> dict[str, Any]:
    known_form = _DECISION_ID.fullmatch(decision_id) is not None  # ULIDs; anything else cannot be in the log
    item = await read_only(container.engine, lambda conn: get_decision(conn, decision_id)) if known_form else None
    if item is None:
        raise NotFound(f"no decision {decision_id!r} in the log")
    return item


@router.get(
    "/export",
    summary="The decisions (same filters as the list), streamed as CSV or JSON Lines, newest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_decisions(
    container: ContainerDep,
    filters: Filters,
    fmt: Annotated[export.ExportFormat, Query(alias="format")] = export.ExportFormat.csv,
) -> StreamingResponse:
    chunks = decision_chunks(container.engine, filters)
    first = await run_in_threadpool(next, chunks, None)  # a database failure is still a problem, not a cut body

    def all_chunks() -> Iterator[list[dict[str, Any]]]:
        if first is not None:
            yield first
            yield from chunks

    stamp = container.decisions.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        export.encode(fmt, all_chunks()),
        media_type=export.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f"attachment; filename=decisions-{stamp}.{fmt.value}",
            "Cache-Control": "no-store",
        },
    )


@router.get("/changes", summary="The administrators' change events (R4), newest first, paged by an opaque cursor")
async def changes(
    container: ContainerDep, since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    start, end = _window(since, until)
    key = f"{query_key_part(start)}|{query_key_part(end)}"
    below = _below("changes", cursor, key)
    items, next_seq = await read_only(container.engine, lambda conn: list_changes(conn, start, end, limit, below))
    return _page("changes", items, next_seq, key)


@router.get("/reports/annual", summary="Rule R3's figures per organ for a calendar year, each Act apart (counts only)")
async def annual(
    container: ContainerDep,
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR, description="YYYY")],
    scheme: Annotated[
        Literal["esi", "sds"] | None, Query(description="one Act only: esi or sds (default: both, each apart)")
    ] = None,
) -> dict[str, Any]:
    schemes = (scheme,) if scheme else tuple(ACTS)
    return await read_only(container.engine, lambda conn: annual_report(conn, year, schemes))
