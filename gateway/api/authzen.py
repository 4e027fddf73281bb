"""OpenID AuthZEN Authorization API 1.0: evaluation, evaluations, metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import ContainerDep, hot_path_caller, json_body, request_id, validated
from gateway.auth import Caller
from gateway.container import Container
from gateway.decision.policy_context import ContextAttribute, context_problems
from gateway.decision.reasons import ASSESSMENT_READER_SCOPE, without_assessment_details
from gateway.errors import FieldError, Forbidden, InvalidInput
from gateway.identifiers import id_errors
from gateway.limits import instant_error
from gateway.problem_details import kind_of
from gateway.service import Outcome, Question

router = APIRouter(tags=["authzen"])
SUBJECT_TYPE, RESOURCE_TYPE = "person", "document"
ENTITY_TYPE = re.compile(r"[a-z0-9_-]{1,32}")
_JSON_TYPES = {
    dict: "an object",
    type(None): "null",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # AuthZEN: receivers ignore unknown fields


class Entity(Open):
    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=256)
    properties: dict[str, Any] | None = None


class Action(Open):
    name: str = Field(min_length=1, max_length=64)
    properties: dict[str, Any] | None = None


class EvaluationRequest(Open):
    subject: Entity
    resource: Entity
    action: Action
    context: dict[str, Any] | None = None


class PartialEvaluation(Open):
    subject: Entity | None = None
    resource: Entity | None = None
    action: Action | None = None
    context: dict[str, Any] | None = None


class Options(Open):
    evaluations_semantic: Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"] = "execute_all"


class EvaluationsRequest(PartialEvaluation):
    evaluations: list[dict[str, Any]] | None = None
    options: Options | None = None


def _question(
    item: EvaluationRequest, caller: Caller, where: tuple[Any, ...], declared: Mapping[str, ContextAttribute]
) -> Question:
    errors = []
    for role, entity in (("subject", item.subject), ("resource", item.resource)):
        if not ENTITY_TYPE.fullmatch(entity.type):
            errors.append(FieldError((*where, role, "type"), "a type is 1 to 32 lower-case letters, digits, _ or -"))
    errors += id_errors(((*where, "subject", "id"), item.subject.id), ((*where, "resource", "id"), item.resource.id))
    at = context_time(item.context, where, errors)
    for name, problem in context_problems(declared, item.context).items():
        errors.append(FieldError((*where, "context", name), problem))
    if errors:
        raise InvalidInput("the evaluation request cannot be evaluated", errors)
    if at is not None and not caller.has("authz:simulate"):
        raise Forbidden("context.time asks for a simulated decision, which needs the scope authz:simulate")
    # An entity of a type this gateway does not decide for (interop: `user`, `todo`) is answered as
    # unknown: its id is asked about under its type ("user/alice"), which no registry id can be ("/"
    # is outside the id alphabet), so it is a deny with subject_unknown or document_unknown, logged.
    person = item.subject.id if item.subject.type == SUBJECT_TYPE else f"{item.subject.type}/{item.subject.id}"
    document = item.resource.id if item.resource.type == RESOURCE_TYPE else f"{item.resource.type}/{item.resource.id}"
    return Question(person, document, item.action.name, at, item.context)


def context_time(context: dict[str, Any] | None, where: tuple[Any, ...], errors: list[FieldError]) -> datetime | None:
    if not context or "time" not in context:
        return None
    value = context["time"]
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        errors.append(
            FieldError(
                (*where, "context", "time"), "give an ISO 8601 time with its offset, e.g. 2030-01-01T09:00:00+09:00"
            )
        )
        return None
    if (error := instant_error(at)) is not None:
        errors.append(FieldError((*where, "context", "time"), error))
        return None
    return at


def _decision(outcome: Outcome, caller: Caller) -> dict[str, Any]:
    """Every reason code, and its message; C9: an assessment's details only to an administrator."""
    reasons = outcome.decision.reason_dicts
    if not caller.has(ASSESSMENT_READER_SCOPE):
        reasons = without_assessment_details(reasons)
    context: dict[str, Any] = {
        "decision_id": outcome.decision_id,
        "policy_version": outcome.policy_version,
        "reasons": reasons,
    }
    if outcome.decision.allowed:
        context["basis"] = outcome.decision.basis
    if outcome.simulation:
        context["simulation"] = True
        context["evaluated_at"] = outcome.evaluated_at.isoformat()
    return {"decision": outcome.decision.allowed, "context": context}


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/access/v1/evaluation",
    summary="Access Evaluation API (one decision)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EvaluationRequest.model_json_schema()}},
        }
    },
)
async def evaluation(request: Request) -> Response:
    container, caller = hot_path_caller(request, "authz:evaluate")
    return _json(await answer_evaluation(container, caller, await json_body(request), request_id(request)))


async def answer_evaluation(container: Container, caller: Caller, body: Any, request_id: str | None) -> dict[str, Any]:
    """The Access Evaluation API's answer to a parsed body (the route, and the lean path in front of it)."""
    item = validated(EvaluationRequest, body)
    question = _question(item, caller, (), container.policies.current.context)
    outcomes = await container.decisions.evaluate([question], caller, request_id=request_id)
    return _decision(outcomes[0], caller)


_STOP = {
    "execute_all": None,
    "deny_on_first_deny": lambda allowed: not allowed,
    "permit_on_first_permit": lambda allowed: allowed,
}


@router.post(
    "/access/v1/evaluations",
    summary="Access Evaluations API (a batch of decisions)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EvaluationsRequest.model_json_schema()}},
        }
    },
)
async def evaluations(request: Request) -> Response:
    container, caller = hot_path_caller(request, "authz:evaluate")
    return _json(await answer_evaluations(container, caller, await json_body(request), request_id(request)))


async def answer_evaluations(container: Container, caller: Caller, body: Any, request_id: str | None) -> dict[str, Any]:
    """The Access Evaluations API's answer to a parsed body."""
    if isinstance(body, dict) and "evaluations" in body and not isinstance(body["evaluations"], list):
        raise InvalidInput(  # {} or null is not an absent array: a caller that meant a batch must hear so
            "evaluations is an array of evaluations, or left out",
            [FieldError(("evaluations",), f"expected an array, not {_JSON_TYPES[type(body['evaluations'])]}")],
        )
    if isinstance(body, dict) and not body.get("evaluations"):  # AuthZEN: absent or empty, a single evaluation
        single = {k: v for k, v in body.items() if k not in ("evaluations", "options")}
        return await answer_evaluation(container, caller, single, request_id)
    batch = validated(EvaluationsRequest, body)
    limit = container.settings.max_batch
    if batch.evaluations and len(batch.evaluations) > limit:
        raise InvalidInput(
            f"a batch holds at most {limit} evaluations",
            [FieldError(("evaluations",), f"{len(batch.evaluations)} items; split the batch")],
        )
    assert batch.evaluations is not None
    defaults = batch.model_dump(include={"subject", "resource", "action", "context"}, exclude_none=True)
    items: list[Question | dict[str, Any]] = []  # each place: its question, or its error answer
    declared = container.policies.current.context
    for i, raw in enumerate(batch.evaluations):
        where = ("evaluations", i)
        try:
            item = validated(EvaluationRequest, {**defaults, **raw}, where)
            items.append(_question(item, caller, where, declared))
        except InvalidInput as exc:  # a missing scope (Forbidden) is the caller's, not the item's: a 403
            items.append(_item_error(exc))
    semantic = batch.options.evaluations_semantic if batch.options else "execute_all"
    if semantic == "deny_on_first_deny":  # an item in error is a denial: nothing after it is decided
        first_error = next((i for i, x in enumerate(items) if isinstance(x, dict)), len(items))
        items = items[: first_error + 1]
    questions = [x for x in items if isinstance(x, Question)]
    outcomes: list[Outcome] = []
    if questions:
        outcomes = await container.decisions.evaluate(
            questions, caller, request_id=request_id, stop_after=_STOP[semantic]
        )
    return {"evaluations": _in_place(items, [_decision(o, caller) for o in outcomes], len(questions))}


def _item_error(exc: InvalidInput) -> dict[str, Any]:
    """AuthZEN "Errors": an evaluation that cannot be evaluated is answered in its own place, closed."""
    error: dict[str, Any] = {"status": kind_of(exc).status, "message": exc.detail}
    if exc.errors:
        error["errors"] = [e.as_dict() for e in exc.errors]
    return {"decision": False, "context": {"error": error}}


def _in_place(items: list[Question | dict[str, Any]], answers: list[dict[str, Any]], asked: int) -> list[Any]:
    """The answers and the item errors in the items' order; when the decisions stopped early (a
    semantic's short circuit), nothing after the last decision made."""
    out: list[Any] = []
    made = 0
    for item in items:
        if not isinstance(item, Question):
            out.append(item)
            continue
        if made == len(answers):
            break  # not decided: the batch stopped before it
        out.append(answers[made])
        made += 1
        if made == len(answers) < asked:
            break
    return out


@router.get("/.well-known/authzen-configuration", summary="Policy Decision Point metadata")
async def metadata(request: Request, container: ContainerDep) -> dict[str, Any]:
    # The PDP's identifier is the URL the metadata is fetched from: the configured public URL (production
    # requires it, https); only a development server without one names the address it was reached at.
    base = (container.settings.public_url or str(request.base_url)).rstrip("/")
    return {
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
    }
