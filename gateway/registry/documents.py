"""Documents in the registry: their records, upload (content to the encrypted store) and re-classification."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlmodel import col

from gateway.errors import FieldError, InvalidInput, NotFound, RefusedData
from gateway.registry.changes import Actor, record_changes
from gateway.store import DocumentStore
from models import Designation, Document
from models.identifiers import check_id
from models.media_types import check_media_type

_DOCS = Document.__table__  # type: ignore[attr-defined]


def _check_designation(conn: Any, designation_id: str | None, field: str) -> None:
    if designation_id is None:
        return
    found = conn.execute(select(col(Designation.id)).where(col(Designation.id) == designation_id)).first()
    if found is None:
        raise RefusedData("unknown designation", [FieldError((field,), f"unknown designation {designation_id!r}")])


def get_document(engine: Engine, document_id: str) -> dict[str, Any]:
    """One document's record (id, title, designation, media type, size, sha256); never its content."""
    with engine.connect() as conn:
        row = conn.execute(select(_DOCS).where(_DOCS.c.id == document_id)).first()
    if row is None:
        raise NotFound(f"no document {document_id!r}")
    return dict(row._mapping)


def list_documents(engine: Engine, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """A page of documents' records by id, and how many there are in all."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(_DOCS)).scalar_one()
        page = select(_DOCS).order_by(_DOCS.c.id).limit(limit).offset(offset)
        items = [dict(row._mapping) for row in conn.execute(page)]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def upload(
    engine: Engine,
    store: DocumentStore,
    actor: Actor,
    *,
    document_id: str,
    title: str,
    media_type: str,
    designation_id: str | None,
    content: Iterable[bytes],
) -> dict[str, Any]:
    """Store a new content version, then point the registry at it in one transaction (R4)."""
    errors = []
    try:
        check_id(document_id)
    except ValueError as exc:
        errors.append(FieldError(("id",), str(exc)))
    if not title.strip() or len(title) > 500:
        errors.append(FieldError(("title",), "a title is 1 to 500 characters"))
    try:
        check_media_type(media_type)
    except ValueError as exc:
        errors.append(FieldError(("media_type",), str(exc)))
    if errors:
        raise InvalidInput("the upload is invalid", errors)
    with engine.connect() as conn:
        _check_designation(conn, designation_id, "designation_id")
    stored = store.put(document_id, content)
    row = {
        "id": document_id,
        "title": title,
        "designation_id": designation_id,
        "media_type": media_type,
        "size": stored.size,
        "sha256": stored.sha256,
    }
    with engine.begin() as conn:
        _check_designation(conn, designation_id, "designation_id")
        before = conn.execute(select(_DOCS).where(_DOCS.c.id == document_id)).first()
        if before is None:
            conn.execute(insert(_DOCS).values(**row))
            action = "document.create"
        else:
            conn.execute(update(_DOCS).where(_DOCS.c.id == document_id).values(**row))
            action = "document.replace"
        record_changes(
            conn,
            actor,
            [
                {
                    "action": action,
                    "entity": "document",
                    "entity_id": document_id,
                    "before": dict(before._mapping) if before else None,
                    "after": row,
                }
            ],
        )
    return row


def classify(engine: Engine, actor: Actor, document_id: str, designation_id: str | None) -> dict[str, Any]:
    """Re-classify a document: a new designation, or none (unclassified). Recorded as a change (R4)."""
    with engine.begin() as conn:
        before = conn.execute(select(_DOCS).where(_DOCS.c.id == document_id)).first()
        if before is None:
            raise NotFound(f"no document {document_id!r}")
        _check_designation(conn, designation_id, "designation_id")
        if before.designation_id == designation_id:
            return dict(before._mapping)
        conn.execute(update(_DOCS).where(_DOCS.c.id == document_id).values(designation_id=designation_id))
        record_changes(
            conn,
            actor,
            [
                {
                    "action": "document.classify",
                    "entity": "document",
                    "entity_id": document_id,
                    "before": {"designation_id": before.designation_id},
                    "after": {"designation_id": designation_id},
                }
            ],
        )
        return {**dict(before._mapping), "designation_id": designation_id}
