"""Registry administration over HTTP (api.md, "Administration"); every route needs `registry:admin`.

Thin: authenticate, parse, call `gateway.registry.admin` in a worker thread, shape the answer. Each
change is written with its change event (R4), so it holds for the next decision on every replica.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api.deps import ContainerDep, bounded_body, change_actor, json_body, scoped
from gateway.auth import Caller
from gateway.container import Container
from gateway.decision.calendar import local_day
from gateway.errors import FieldError, InvalidInput
from gateway.registry import admin, corrections, lifecycle, rosters, transitions
from gateway.registry.bundle_checks import from_pydantic
from gateway.registry.expiring import expiring as expiring_items
from gateway.registry.expiring import parse_window
from models.bundle import Bundle

router = APIRouter(prefix="/v1/admin", tags=["registry administration"])
AdminCaller = Annotated[Caller, scoped("registry:admin")]
EntityId = Annotated[str, Path(alias="id", description="the record's id")]
M = TypeVar("M", bound=BaseModel)


class Extension(BaseModel):
    """D2: the new last day, and the Cabinet approval an extension past thirty years needs."""

    model_config = ConfigDict(extra="forbid")
    expires_on: date
    cabinet_approval_ref: str | None = Field(default=None, max_length=200)


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cancelled_on: date


class Correction(BaseModel):
    """D3, D6: the day a cancellation really took effect, and why the record is corrected."""

    model_config = ConfigDict(extra="forbid")
    cancelled_on: date
    reason: str = Field(max_length=500)


class PeriodDates(BaseModel):
    """N1: the entry's first and last day (inclusive); no `from`: today for a new entry, unchanged otherwise."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    valid_from: date | None = Field(default=None, alias="from")
    valid_until: date | None = Field(default=None, alias="until")


def local_today(container: Container) -> date:
    """Today in the configured zone, by the gateway's clock (C3)."""
    return local_day(container.decisions.clock(), container.settings.zone)


async def model_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Strict JSON (dates as YYYY-MM-DD strings, no unknown fields); errors point into the body."""
    raw = await bounded_body(request)
    if optional and not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidInput(f"the body does not match {model.__name__}", from_pydantic(exc.errors())) from exc


def query_filters(request: Request, allowed: tuple[str, ...], *, paged: bool = True) -> dict[str, str]:
    """The query's filters: each one this list knows, given once; anything else is a 400 naming it,
    never silently ignored."""
    known = {*allowed, *(("limit", "offset") if paged else ())}
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in known:
            takes = ", ".join(sorted(known))
            errors.append(FieldError(("query", name), f"not a filter of this list; it takes: {takes}"))
        elif len(request.query_params.getlist(name)) > 1:
            errors.append(FieldError(("query", name), "given more than once; give each filter once"))
    if errors:
        raise InvalidInput("the query names what this list cannot filter by; nothing was listed", errors)
    return {name: request.query_params[name] for name in allowed if name in request.query_params}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


# --- C7, B3: suspend, reinstate, revoke ----------------------------------------------------------


def _a(noun: str) -> str:
    """The noun with its indefinite article, for summaries: "an assessment", "a contract"."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _add_transition(plural: str, name: str) -> None:
    singular = admin.SINGULAR[plural]

    async def endpoint(
        entity_id: EntityId, request: Request, container: ContainerDep, caller: AdminCaller
    ) -> dict[str, Any]:
        actor = change_actor(request, caller)
        return await run_in_threadpool(lifecycle.transition, container.engine, actor, plural, entity_id, name)

    sources, target = transitions.TRANSITIONS[name]
    router.add_api_route(
        f"/{plural}/{{id}}/{name}",
        endpoint,
        methods=["POST"],
        name=f"{name}_{singular}",
        summary=f"{name.capitalize()} {_a(singular)}: {' or '.join(sorted(sources))} -> {target}",
        description="Answers the record before and after. A transition the status does not allow is a 409 "
        "naming the current status and the transitions it allows; a revocation is final (C7).",
    )


for _plural in admin.WITH_STATUS:
    for _name in transitions.TRANSITIONS:
        _add_transition(_plural, _name)


# --- D2, D3, D6: designations --------------------------------------------------------------------


@router.post(
    "/designations/{id}/extend",
    summary="Extend a designation within D2's limits (else 422 naming expires_on)",
    openapi_extra=_schema(Extension),
)
async def extend_designation(
    entity_id: EntityId, request: Request, container: ContainerDep, caller: AdminCaller
) -> dict[str, Any]:
    body = await model_body(request, Extension)
    return await run_in_threadpool(
        lifecycle.extend,
        container.engine,
        change_actor(request, caller),
        entity_id,
        body.expires_on,
        body.cabinet_approval_ref,
        local_today(container),
        container.policies.current.registry,
    )


@router.post(
    "/designations/{id}/cancel",
    summary="Cancel a designation from a day on (once; 409 when already cancelled)",
    openapi_extra=_schema(Cancellation),
)
async def cancel_designation(
    entity_id: EntityId, request: Request, container: ContainerDep, caller: AdminCaller
) -> dict[str, Any]:
    body = await model_body(request, Cancellation)
    return await run_in_threadpool(
        lifecycle.cancel, container.engine, change_actor(request, caller), entity_id, body.cancelled_on
    )


@router.post(
    "/designations/{id}/correct-cancellation",
    summary="Correct the day a cancellation took effect, in the past if need be, with the reason (D3, D6)",
    openapi_extra=_schema(Correction),
)
async def correct_cancellation(
    entity_id: EntityId, request: Request, container: ContainerDep, caller: AdminCaller
) -> dict[str, Any]:
    body = await model_body(request, Correction)
    return await run_in_threadpool(
        corrections.correct_cancellation,
        container.engine,
        change_actor(request, caller),
        entity_id,
        body.cancelled_on,
        body.reason,
    )


# --- N1: handler rosters -------------------------------------------------------------------------


@router.put(
    "/rosters/{designation_id}/{person_id}",
    summary="Put a person on a designation's roster, or change the entry's dates",
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {}}}},
)
async def put_roster_entry(
    designation_id: str,
    person_id: str,
    request: Request,
    response: Response,
    container: ContainerDep,
    caller: AdminCaller,
) -> dict[str, Any]:
    body = await model_body(request, PeriodDates, optional=True)
    entry, created = await run_in_threadpool(
        rosters.put_roster,
        container.engine,
        change_actor(request, caller),
        designation_id,
        person_id,
        body.valid_from,
        body.valid_until,
        local_today(container),
    )
    response.status_code = 201 if created else 200
    return entry


@router.get("/rosters", summary="Roster entries (every period) by designation and/or person (N1)")
async def list_roster_entries(
    request: Request,
    container: ContainerDep,
    caller: AdminCaller,
    designation: Annotated[str | None, Query(description="a designation's id")] = None,
    person: Annotated[str | None, Query(description="a person's id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query_filters(request, ("designation", "person"))
    return await run_in_threadpool(rosters.list_roster, container.engine, designation, person, limit, offset)


@router.delete("/rosters/{designation_id}/{person_id}", summary="Take a person off a designation's roster")
async def delete_roster_entry(
    designation_id: str, person_id: str, request: Request, container: ContainerDep, caller: AdminCaller
) -> dict[str, Any]:
    entry = await run_in_threadpool(
        rosters.delete_roster,
        container.engine,
        change_actor(request, caller),
        designation_id,
        person_id,
        local_today(container),
    )
    return {"deleted": entry}


# --- what is about to expire ---------------------------------------------------------------------


@router.get("/expiring", summary="Clearances, contracts and designations whose last day is near")
async def expiring(
    request: Request,
    container: ContainerDep,
    caller: AdminCaller,
    within: Annotated[str, Query(description="the window: 90d, 12w or a number of days")] = "90d",
) -> dict[str, Any]:
    query_filters(request, ("within",), paged=False)
    try:
        days = parse_window(within)
    except ValueError as exc:
        raise InvalidInput("the window is invalid", [FieldError(("query", "within"), str(exc))]) from exc
    today = local_today(container)
    items = await run_in_threadpool(expiring_items, container.engine, days, today, container.policies.current)
    return {"today": today.isoformat(), "within_days": days, "items": [i.as_dict() for i in items]}


# --- records one by one --------------------------------------------------------------------------


def _add_record_routes(plural: str) -> None:
    singular = admin.SINGULAR[plural]
    entry_model = Bundle.model_fields[plural].annotation.__args__[0]  # type: ignore[union-attr]

    async def list_page(
        request: Request,
        container: ContainerDep,
        caller: AdminCaller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        filters = query_filters(request, admin.FILTERS[plural])
        return await run_in_threadpool(admin.list_records, container.engine, plural, limit, offset, filters)

    async def get_one(entity_id: EntityId, container: ContainerDep, caller: AdminCaller) -> dict[str, Any]:
        return await run_in_threadpool(admin.get_record, container.engine, plural, entity_id)

    async def put_one(
        entity_id: EntityId, request: Request, response: Response, container: ContainerDep, caller: AdminCaller
    ) -> dict[str, Any]:
        data = await json_body(request)
        record, created = await run_in_threadpool(
            admin.put_record,
            container.engine,
            change_actor(request, caller),
            plural,
            entity_id,
            data,
            local_today(container),
            container.policies.current.registry,
        )
        response.status_code = 201 if created else 200
        return record

    async def delete_one(
        entity_id: EntityId, request: Request, container: ContainerDep, caller: AdminCaller
    ) -> dict[str, Any]:
        record = await run_in_threadpool(
            admin.delete_record, container.engine, change_actor(request, caller), plural, entity_id
        )
        return {"deleted": record}

    add = router.add_api_route
    add(
        f"/{plural}",
        list_page,
        methods=["GET"],
        name=f"list_{plural}",
        summary=f"List {plural} by id, a page at a time"
        + (f"; filter by {', '.join(admin.FILTERS[plural])}" if admin.FILTERS[plural] else ""),
    )
    add(f"/{plural}/{{id}}", get_one, methods=["GET"], name=f"get_{singular}", summary=f"One {singular}")
    add(
        f"/{plural}/{{id}}",
        put_one,
        methods=["PUT"],
        name=f"put_{singular}",
        summary=f"Create or replace {_a(singular)} (validated as an import of it would be)",
        openapi_extra=_schema(entry_model),
    )
    add(
        f"/{plural}/{{id}}",
        delete_one,
        methods=["DELETE"],
        name=f"delete_{singular}",
        summary=f"Delete {_a(singular)} nothing refers to" + (" (never: D6)" if plural == "designations" else ""),
    )


for _plural in admin.RECORDS:
    _add_record_routes(_plural)
