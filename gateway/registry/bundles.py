"""Bundles beyond the import itself: their JSON Schema, the registry exported as one, a dry run, and one
report of every problem of a bundle (its shape and its references together)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, select

from gateway.errors import FieldError, InvalidInput
from gateway.registry.bundle_checks import parse_bundle, validate
from gateway.registry.changes import Actor
from gateway.registry.importer import ImportResult, import_on
from gateway.registry.tables import ENTITY, ORDER, PERIOD_KEYS, T
from gateway.registry.validation import RegistryRules
from gateway.store import DocumentStore, StoredContent
from models import ContractDesignation
from models.bundle import Bundle

SCHEMA_ID = "https://clearance-gateway.dev/schemas/registry-bundle.json"


def bundle_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a bundle, generated from the models the import validates with."""
    schema = Bundle.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "clearance-gateway registry bundle",
        "description": "Registry records to import, all or nothing (docs/bundle.md).",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _entry_model(section: str) -> type[BaseModel]:
    (model,) = get_args(Bundle.model_fields[section].annotation)
    return model


def export_bundle(
    engine: Engine, store: DocumentStore | None = None, progress: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """The whole registry as a bundle, in import order and by id; with contents only when given a store."""
    out: dict[str, Any] = {}
    link = ContractDesignation.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        provided: dict[str, list[str]] = {}
        for contract_id, designation_id in conn.execute(
            select(link.c.contract_id, link.c.designation_id).order_by(link.c.contract_id, link.c.designation_id)
        ):
            provided.setdefault(contract_id, []).append(designation_id)
        for section in ORDER:
            out[section] = [_entry(section, row, provided, store) for row in _rows(conn, section)]
            if progress:
                progress(section, len(out[section]))
    return out


def _rows(conn: Connection, section: str) -> Iterable[dict[str, Any]]:
    table = T[section]
    order = [table.c[c] for c in PERIOD_KEYS[section]] if section in PERIOD_KEYS else [table.c.id]
    for row in conn.execute(select(table).order_by(*order)):
        yield dict(row._mapping)


def _entry(
    section: str, row: dict[str, Any], provided: dict[str, list[str]], store: DocumentStore | None
) -> dict[str, Any]:
    if section in PERIOD_KEYS:
        row = {**row, "from": row.pop("valid_from"), "until": row.pop("valid_until")}
    elif section == "contracts":
        row = {**row, "designation_ids": provided.get(row["id"], [])}
    elif section == "documents" and store is not None:
        content = b"".join(store.open(row["id"], row["sha256"]))
        row = {**row, "content_base64": base64.b64encode(content).decode()}
    model = _entry_model(section)
    fields = {f.alias or name for name, f in model.model_fields.items()}
    entry = model.model_validate({k: v for k, v in row.items() if k in fields})
    exclude = {"content_base64"} if section == "documents" and store is None else set()
    if section == "designations":
        exclude.add("cabinet_approval_ref")  # kept in the ledger, with the extension it approved
    if section in ("assessments", "designations") and not row.get("transitional"):
        exclude.add("transitional")  # the mark shows only where it is set
    return entry.model_dump(mode="json", by_alias=True, exclude=exclude)


class _DigestOnly:
    """A document store that stores nothing: a dry run learns each content's size and sha256."""

    def put(self, doc_id: str, chunks: Iterable[bytes]) -> StoredContent:
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        return StoredContent(size=size, sha256=digest.hexdigest())


def dry_run(engine: Engine, bundle: Bundle, actor: Actor, rules: RegistryRules) -> ImportResult:
    """What the import would do, record by record, inside a transaction that is rolled back."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            return import_on(conn, bundle, actor, _DigestOnly(), rules=rules)  # type: ignore[arg-type]
        finally:
            transaction.rollback()


def parse_checked(engine: Engine, raw: bytes | str, rules: RegistryRules) -> Bundle:
    """parse_bundle, but a bundle with shape errors also gets its references checked, so one report says all.

    The entries that have the right shape are checked against each other and the registry; a reference
    to an entry left out for its shape is not reported again.
    """
    try:
        return parse_bundle(raw)
    except InvalidInput as shape:
        salvaged = _salvage(raw)
        if salvaged is None:
            raise
        bundle, where, left_out = salvaged
        with engine.connect() as conn:
            more = validate(bundle, conn, rules=rules)
        errors = shape.errors + [_relocated(e, where) for e in more if e.detail not in left_out]
        errors.sort(key=lambda e: _order(e.location))
        raise type(shape)(shape.detail, errors) from shape


def _salvage(raw: bytes | str) -> tuple[Bundle, dict[str, list[int]], set[str]] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kept: dict[str, list[Any]] = {}
    where: dict[str, list[int]] = {}
    left_out: set[str] = set()
    for section in ORDER:
        items = data.get(section)
        if not isinstance(items, list):
            continue
        model = _entry_model(section)
        for index, item in enumerate(items):
            try:
                entry = model.model_validate_json(json.dumps(item), strict=True)
            except (ValidationError, TypeError, ValueError):
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    left_out.add(f"unknown {ENTITY[section]} {item['id']!r}")
                continue
            kept.setdefault(section, []).append(entry)
            where.setdefault(section, []).append(index)
    return Bundle.model_construct(None, **kept), where, left_out


def _relocated(error: FieldError, where: dict[str, list[int]]) -> FieldError:
    section, index, *rest = error.location
    return FieldError((section, where[section][index], *rest), error.detail)


def _order(location: tuple[Any, ...]) -> tuple[Any, ...]:
    section = ORDER.index(location[0]) if location and location[0] in ORDER else -1
    return (section, *(str(part).zfill(12) if isinstance(part, int) else str(part) for part in location[1:]))
