"""Provisions over HTTP (C5a): a designating organ provides a designation to another organ.

`PUT /v1/admin/provisions/{designation_id}/{organ_id}` provides (or changes the current provision's
dates), `DELETE` the same ends it from today on, `GET /v1/admin/provisions?designation=&organ=` lists
every period. Scope `registry:admin`; each change is written with its change event.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import ContainerDep, change_actor
from gateway.api.registry_admin import AdminCaller, PeriodDates, local_today, model_body, query_filters
from gateway.registry import provisions

router = APIRouter(prefix="/v1/admin", tags=["registry administration"])


@router.put(
    "/provisions/{designation_id}/{organ_id}",
    summary="Provide a designation to another organ (C5a), or change the current provision's dates",
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {}}}},
)
async def put_provision(
    designation_id: str,
    organ_id: str,
    request: Request,
    response: Response,
    container: ContainerDep,
    caller: AdminCaller,
) -> dict[str, Any]:
    body = await model_body(request, PeriodDates, optional=True)
    entry, created = await run_in_threadpool(
        provisions.provide,
        container.engine,
        change_actor(request, caller),
        designation_id,
        organ_id,
        body.valid_from,
        body.valid_until,
        local_today(container),
    )
    response.status_code = 201 if created else 200
    return entry


@router.get("/provisions", summary="Provisions (every period) by designation and/or receiving organ (C5a)")
async def list_provisions(
    request: Request,
    container: ContainerDep,
    caller: AdminCaller,
    designation: Annotated[str | None, Query(description="a designation's id")] = None,
    organ: Annotated[str | None, Query(description="the receiving organ's id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query_filters(request, ("designation", "organ"))
    return await run_in_threadpool(provisions.list_provisions, container.engine, designation, organ, limit, offset)


@router.delete("/provisions/{designation_id}/{organ_id}", summary="End a provision from today on (C5a)")
async def end_provision(
    designation_id: str, organ_id: str, request: Request, container: ContainerDep, caller: AdminCaller
) -> dict[str, Any]:
    entry = await run_in_threadpool(
        provisions.end_provision,
        container.engine,
        change_actor(request, caller),
        designation_id,
        organ_id,
        local_today(container),
    )
    return {"ended": entry}
