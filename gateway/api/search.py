"""OpenID AuthZEN 1.0 Search APIs: subject, resource and action search (scope authz:search)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateway.api.authzen import ENTITY_TYPE, Action, Entity, Open, context_time
from gateway.api.deps import hot_path_caller, json_body, request_id, validated
from gateway.auth import Caller
from gateway.decision.policy_context import context_problems
from gateway.errors import FieldError, Forbidden, InvalidInput
from gateway.identifiers import id_errors
from gateway.search import MAX_LIMIT, Kind, Page, SearchQuery

router = APIRouter(tags=["authzen"])
SCOPE = "authz:search"


class Searched(Open):
    """The entity searched for: a type; an id, if sent, is ignored (AuthZEN)."""

    type: str = Field(min_length=1, max_length=64)
    id: Any = None
    properties: dict[str, Any] | None = None


class PageRequest(Open):
    token: str | None = Field(default=None, max_length=2048)
    limit: int | None = Field(default=None, ge=0, description=f"at most {MAX_LIMIT} results a page (more is cut)")
    properties: dict[str, Any] | None = None


class SubjectSearch(Open):
    subject: Searched
    action: Action
    resource: Entity
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


class ResourceSearch(Open):
    subject: Entity
    action: Action
    resource: Searched
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


class ActionSearch(Open):
    subject: Entity
    resource: Entity
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


_MODELS: dict[Kind, type[SubjectSearch] | type[ResourceSearch] | type[ActionSearch]] = {
    "subject": SubjectSearch,
    "resource": ResourceSearch,
    "action": ActionSearch,
}


def _query(kind: Kind, body: Any, caller: Caller, declared: Any) -> tuple[SearchQuery, str | None]:
    request = validated(_MODELS[kind], body)
    errors: list[FieldError] = []
    for role in ("subject", "resource"):
        if not ENTITY_TYPE.fullmatch(getattr(request, role).type):
            errors.append(FieldError((role, "type"), "a type is 1 to 32 lower-case letters, digits, _ or -"))
    named = [
        (role, getattr(request, role)) for role in ("subject", "resource") if isinstance(getattr(request, role), Entity)
    ]
    errors += id_errors(*(((role, "id"), entity.id) for role, entity in named))
    at = context_time(request.context, (), errors)
    for name, problem in context_problems(declared, request.context).items():
        errors.append(FieldError(("context", name), problem))
    if errors:
        raise InvalidInput("the search request cannot be answered", errors)
    if at is not None and not caller.has("authz:simulate"):
        raise Forbidden("context.time asks for a search at another time, which needs the scope authz:simulate")
    page = request.page or PageRequest()
    subject, resource = request.subject, request.resource
    query = SearchQuery(
        kind=kind,
        subject_type=subject.type,
        subject_id=subject.id if isinstance(subject, Entity) else None,
        resource_type=resource.type,
        resource_id=resource.id if isinstance(resource, Entity) else None,
        action=request.action.name if not isinstance(request, ActionSearch) else None,
        context=request.context,
        at=at,
        limit=MAX_LIMIT if page.limit is None else min(page.limit, MAX_LIMIT),
    )
    return query, page.token


def _answer(kind: Kind, page: Page, query: SearchQuery) -> dict[str, Any]:
    if kind == "action":
        results: list[dict[str, Any]] = [{"name": name} for name in page.results]
    else:
        entity_type = query.subject_type if kind == "subject" else query.resource_type
        results = [{"type": entity_type, "id": i} for i in page.results]
    context: dict[str, Any] = {"decision_id": page.decision_id, "policy_version": page.policy_version}
    if page.simulation:
        context["simulation"] = True
    context["evaluated_at"] = page.evaluated_at.isoformat()
    return {"page": {"next_token": page.next_token, "count": len(results)}, "context": context, "results": results}


async def _search(kind: Kind, request: Request) -> Response:
    container, caller = hot_path_caller(request, SCOPE)
    query, token = _query(kind, await json_body(request), caller, container.policies.current.context)
    page = await container.search.search(query, token, caller, request_id(request))
    return Response(orjson.dumps(_answer(kind, page, query)), media_type="application/json")


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.post(
    "/access/v1/search/subject",
    summary="Subject Search API: the persons who may take the action on the document",
    openapi_extra=_documented(SubjectSearch),
)
async def search_subject(request: Request) -> Response:
    return await _search("subject", request)


@router.post(
    "/access/v1/search/resource",
    summary="Resource Search API: the documents the person may take the action on",
    openapi_extra=_documented(ResourceSearch),
)
async def search_resource(request: Request) -> Response:
    return await _search("resource", request)


@router.post(
    "/access/v1/search/action",
    summary="Action Search API: the actions the person may take on the document",
    openapi_extra=_documented(ActionSearch),
)
async def search_action(request: Request) -> Response:
    return await _search("action", request)
