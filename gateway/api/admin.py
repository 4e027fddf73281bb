"""Administration: registry import and the running policy."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from gateway.api.deps import ContainerDep, bounded_body, change_actor, scoped
from gateway.auth import Caller
from gateway.decision.policy import PolicyError
from gateway.errors import FieldError, PolicyRefused
from gateway.registry import documents
from gateway.registry.bundles import parse_checked
from gateway.registry.importer import import_bundle

router = APIRouter(prefix="/v1/admin", tags=["administration"])


@router.post(
    "/registry/import",
    summary="Import a registry bundle (all or nothing)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}},
)
async def registry_import(
    request: Request, container: ContainerDep, caller: Caller = scoped("registry:admin")
) -> dict[str, Any]:
    rules = container.policies.current.registry  # D2, D4: checked against the running policy
    bundle = await run_in_threadpool(parse_checked, container.engine, await bounded_body(request), rules)
    actor = change_actor(request, caller)
    result = await run_in_threadpool(
        lambda: import_bundle(container.engine, bundle, actor, container.store, rules=rules)
    )
    return result.as_dict()


@router.get("/policy", summary="The running policy: version, load time, files")
async def policy_info(
    container: ContainerDep, caller: Caller = scoped("policy:admin", "registry:admin")
) -> dict[str, Any]:
    refused = container.policies.refused
    return {
        **container.policies.current.summary,
        "worker_pid": os.getpid(),
        "refused": {"version": refused[0], "problems": refused[1]} if refused else None,
    }


@router.post("/policy/reload", summary="Check the policy files and swap them in; refused if invalid")
async def policy_reload(container: ContainerDep, caller: Caller = scoped("policy:admin")) -> dict[str, Any]:
    before = container.policies.current.version
    try:
        policy, changed = await run_in_threadpool(container.policies.reload, caller.sub)
    except PolicyError as exc:
        errors = [FieldError((p.file, p.line), p.message) for p in exc.problems]
        raise PolicyRefused(f"the policy was refused; {before} keeps serving", errors) from exc
    return {**policy.summary, "changed": changed, "worker_pid": os.getpid()}


@router.get("/documents", summary="Documents' records by id, a page at a time (never their content)")
async def list_documents(
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    caller: Caller = scoped("registry:admin"),
) -> dict[str, Any]:
    return await run_in_threadpool(documents.list_documents, container.engine, limit, offset)


@router.get("/documents/{document_id}", summary="One document's record: title, designation, size, sha256")
async def get_document(
    document_id: str, container: ContainerDep, caller: Caller = scoped("registry:admin")
) -> dict[str, Any]:
    return await run_in_threadpool(documents.get_document, container.engine, document_id)


@router.post("/documents", summary="Upload a document's content (multipart) and classify it", status_code=201)
async def upload_document(
    request: Request,
    container: ContainerDep,
    id: str = Form(description="the document's id"),  # noqa: A002
    title: str = Form(),
    file: UploadFile = File(description="the content; streamed to the encrypted store"),
    media_type: str | None = Form(default=None, description="defaults to the part's Content-Type"),
    designation_id: str | None = Form(default=None, description="none: an unclassified document"),
    caller: Caller = scoped("registry:admin"),
) -> dict[str, Any]:
    def chunks():
        while piece := file.file.read(1024 * 1024):
            yield piece

    return await run_in_threadpool(
        documents.upload,
        container.engine,
        container.store,
        change_actor(request, caller),
        document_id=id,
        title=title,
        media_type=media_type or file.content_type or "application/octet-stream",
        designation_id=designation_id or None,
        content=chunks(),
    )


class Classification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    designation_id: str | None


@router.post("/documents/{document_id}/classification", summary="Re-classify a document (or declassify: null)")
async def classify_document(
    document_id: str,
    body: Classification,
    request: Request,
    container: ContainerDep,
    caller: Caller = scoped("registry:admin"),
) -> dict[str, Any]:
    return await run_in_threadpool(
        documents.classify, container.engine, change_actor(request, caller), document_id, body.designation_id
    )
