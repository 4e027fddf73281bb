"""Document release: decide, log durably, then (and only then) stream the decrypted content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from gateway.api.deps import ContainerDep, request_id, scoped
from gateway.auth import Caller
from gateway.container import Container
from gateway.decision.facts import Facts
from gateway.decision.policy_context import context_problems, from_headers
from gateway.errors import FieldError, InvalidInput, ReleaseDenied, ReleaseFailed
from gateway.identifiers import require_ids
from gateway.service import Outcome, Question
from gateway.store import IntegrityError, verified

router = APIRouter(tags=["documents"])
log = structlog.get_logger("gateway.release")
MARKINGS = {"esi": "重要経済安保情報", "sds": "特定秘密"}  # D5


def marking(facts: Facts) -> str:
    """D5: the tier's marking and the designation, or `unclassified`."""
    designation = facts.designation
    if designation is None:
        return "unclassified"
    return f"{MARKINGS[designation.scheme]} {designation.id}"


@router.get(
    "/v1/documents/{document_id:path}/content",
    summary="Release a document's content to its reader",
    responses={403: {"description": "denied, or no such document (the two are indistinguishable)"}},
)
async def release(
    document_id: str,
    request: Request,
    container: ContainerDep,
    action: Annotated[str, Query(max_length=64, description="what the reader will do with it, e.g. print")] = "read",
    caller: Caller = scoped("documents:read"),
) -> StreamingResponse:
    # 400 before anything is decided, memoized or logged: the document's id, and the reader's (the token's sub)
    require_ids((("path", "document_id"), document_id), (("token", "sub"), caller.sub))
    # Declared context attributes come from their headers (e.g. X-Terminal-Id): a rule may require them.
    declared = container.policies.current.context
    given = from_headers(declared, request.headers)
    problems = context_problems(declared, given)
    errors = [FieldError(("header", str(declared[name].header)), problem) for name, problem in problems.items()]
    if errors:
        raise InvalidInput("a request context header has the wrong type", errors)
    [outcome] = await container.decisions.evaluate(
        [Question(caller.sub, document_id, action, context=given)],
        caller,
        request_id=request_id(request),
        channel="release",
    )
    # The decision is committed to the log at this point (R1): only now may content be touched.
    if not outcome.decision.allowed:
        # No existence oracle: every denial, an unknown document's too, is this one body; the reasons are
        # in the decision log, for auditors and administrators (quote the decision id to them).
        raise ReleaseDenied(
            f"you may not read this document; quote decision {outcome.decision_id} to an administrator",
            outcome.decision_id,
        )
    document = outcome.facts.document
    assert document is not None
    chunks = await run_in_threadpool(_open_verified, container, outcome)
    headers = {
        "X-Decision-Id": outcome.decision_id,
        "X-Classification-Marking": quote(marking(outcome.facts), safe=" -_.()"),
        "X-Classification-Tier": outcome.facts.designation.scheme if outcome.facts.designation else "unclassified",
        "Content-Length": str(document.size),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment",
    }
    return StreamingResponse(chunks, media_type=document.media_type, headers=headers)


def _open_verified(container: Container, outcome: Outcome) -> Iterator[bytes]:
    """Check every tag and the sha256 before the first byte is sent, then open again to stream."""
    document = outcome.facts.document
    assert document is not None
    store = container.store
    try:
        verified(store.open(document.id, document.sha256), document.sha256)
        return store.open(document.id, document.sha256)
    except (IntegrityError, OSError) as exc:
        log.error("release.integrity_failed", decision_id=outcome.decision_id, document_id=document.id, error=str(exc))
        raise ReleaseFailed(
            "the stored content failed its integrity check; nothing was sent. The event is logged: "
            f"quote decision {outcome.decision_id} to an administrator",
            extra={"decision_id": outcome.decision_id},
        ) from exc
