"""Registry bundle import (api.md): validate everything first (bundle_checks.py), then write all of it
or nothing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from gateway.errors import Conflict, RefusedData
from gateway.registry.bundle_checks import chunks, rows_by_id, validate
from gateway.registry.changes import Actor, record_changes
from gateway.registry.recording import (
    FIRST_DAY,
    provision_periods,
    provision_version,
    record_statuses,
    record_versions,
    roster_periods,
    roster_version,
)
from gateway.registry.tables import ENTITY, ORDER, PERIOD_KEYS, T, entity_id_of, period_key
from gateway.registry.validation import (
    RegistryRules,
)
from gateway.store import DocumentStore
from models import (
    ContractDesignation,
    DesignationEvent,
)
from models.bundle import Bundle


@dataclass
class ImportResult:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # each record created or updated, for a dry run

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "changed": self.changed}


def import_bundle(
    engine: Engine,
    bundle: Bundle,
    actor: Actor,
    store: DocumentStore,
    progress: Callable[[str, int], None] | None = None,
    *,
    rules: RegistryRules,
) -> ImportResult:
    """Validate (against the policy's registry `rules`), then write every entry in one transaction.
    Raises InvalidInput and changes nothing."""
    with engine.begin() as conn:
        return import_on(conn, bundle, actor, store, progress, rules=rules)


def import_on(
    conn: Connection,
    bundle: Bundle,
    actor: Actor,
    store: DocumentStore,
    progress: Callable[[str, int], None] | None = None,
    *,
    rules: RegistryRules,
) -> ImportResult:
    """The import inside the caller's transaction (a dry run rolls it back)."""
    _, today = actor.moment()
    errors = validate(bundle, conn, today, rules)
    if errors:
        raise RefusedData("The registry bundle is invalid; nothing was imported", errors)
    result = ImportResult()
    changes = result.changes
    _keep_history(conn, actor, bundle)
    for name in ORDER:
        entries = getattr(bundle, name)
        rows = [_row(name, e, store) for e in entries]
        _upsert(conn, name, rows, result, changes)
        if progress:
            progress(name, len(entries))
    write_contract_links(conn, bundle)
    _ledger(conn, changes, {d.id: d.cabinet_approval_ref for d in bundle.designations}, today)
    try:
        record_changes(conn, actor, changes)
    except DBIntegrityError as exc:  # a concurrent writer raced us: nothing is written
        raise Conflict("The registry changed during the import; try again") from exc
    return result


def _row(name: str, entry: Any, store: DocumentStore) -> dict[str, Any]:
    if name in PERIOD_KEYS:
        return {k: getattr(entry, k) for k in (*PERIOD_KEYS[name], "valid_until")}
    if name == "documents":
        row = {
            "id": entry.id,
            "title": entry.title,
            "designation_id": entry.designation_id,
            "media_type": entry.media_type,
        }
        if entry.content_base64 is not None:
            content = base64.b64decode(entry.content_base64, validate=True)
            # Stored under (id, sha256): a rolled-back import never overwrites a released content.
            stored = store.put(entry.id, [content])
            row |= {"size": stored.size, "sha256": stored.sha256}
        return row
    fields = set(T[name].c.keys())
    return {k: v for k, v in entry.model_dump().items() if k in fields}


def _key(name: str, row: dict[str, Any]) -> Any:
    return period_key(name, row) if name in PERIOD_KEYS else row["id"]


def _upsert(
    conn: Connection, name: str, rows: list[dict[str, Any]], result: ImportResult, changes: list[dict[str, Any]]
) -> None:
    table: Table = T[name]
    before = _existing_rows(conn, name, rows)
    fresh, created, updated, same = [], 0, 0, 0
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by the columns that change
    for row in rows:
        old = before.get(_key(name, row))
        entity_id = entity_id_of(name, row)
        if old is None:
            fresh.append(row)
            created += 1
            changes.append(
                {
                    "action": "import.create",
                    "entity": ENTITY[name],
                    "entity_id": entity_id,
                    "before": None,
                    "after": row,
                }
            )
            continue
        delta = {k: v for k, v in row.items() if old.get(k) != v}
        if not delta:
            same += 1
            continue
        keys = zip(table.primary_key.columns.keys(), _pk(name, row), strict=True)
        changed.setdefault(tuple(delta), []).append(
            {f"key_{k}": v for k, v in keys} | {f"new_{k}": v for k, v in delta.items()}
        )
        updated += 1
        changes.append(
            {
                "action": "import.update",
                "entity": ENTITY[name],
                "entity_id": entity_id,
                "before": {k: old.get(k) for k in delta},
                "after": delta,
            }
        )
    for columns, params in changed.items():
        where = [c == bindparam(f"key_{c.name}") for c in table.primary_key.columns]
        conn.execute(update(table).where(*where).values({c: bindparam(f"new_{c}") for c in columns}), params)
    if fresh:
        conn.execute(insert(table), fresh)
    result.created[name], result.updated[name], result.unchanged[name] = created, updated, same


def _pk(name: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return period_key(name, row) if name in PERIOD_KEYS else (row["id"],)


def _existing_rows(conn: Connection, name: str, rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    table = T[name]
    if name not in PERIOD_KEYS:
        return rows_by_id(conn, name, [r["id"] for r in rows])
    holder = PERIOD_KEYS[name][1]
    out = {}
    for chunk in chunks(sorted({r[holder] for r in rows})):
        for row in conn.execute(select(table).where(table.c[holder].in_(chunk))):
            out[period_key(name, row)] = dict(row._mapping)
    return out


def _keep_history(conn: Connection, actor: Actor, bundle: Bundle) -> None:
    """Before the bundle is written: the first status period of each new assessment and certification
    and a new period for each status it changes (C7, B3); the versions of the designations, contracts
    and roster entries it changes (history.py: a change never reaches back)."""
    for name in ("assessments", "certifications"):
        entries = getattr(bundle, name)
        singular = ENTITY[name]
        current = rows_by_id(conn, name, [e.id for e in entries], ["id", "status"])
        periods = [
            (e.id, e.status, None if e.id in current else getattr(e, FIRST_DAY[singular]))
            for e in entries
            if current.get(e.id, {}).get("status") != e.status
        ]
        record_statuses(conn, actor, singular, periods)
    for name in ("designations", "contracts"):
        entries = getattr(bundle, name)
        current = rows_by_id(conn, name, [e.id for e in entries])
        if name == "contracts":
            for contract_id, designations in _links_of(conn, list(current)).items():
                current[contract_id]["designation_ids"] = designations
        changed = {}
        for e in entries:
            before = current.get(e.id)
            if before is None:
                continue
            new = _row(name, e, None) | (  # type: ignore[arg-type]  # no document here: no store needed
                {"designation_ids": sorted(set(e.designation_ids))} if name == "contracts" else {}
            )
            if any(before.get(k, []) != v for k, v in new.items()):
                changed[e.id] = before
        record_versions(conn, actor, ENTITY[name], changed)
    pairs = {(r.designation_id, r.person_id) for r in bundle.rosters}
    before_periods = roster_periods(conn, pairs)
    after_periods: dict[tuple[str, str], dict[Any, Any]] = {
        pair: {p["valid_from"]: p["valid_until"] for p in periods} for pair, periods in before_periods.items()
    }
    for r in bundle.rosters:
        after_periods.setdefault((r.designation_id, r.person_id), {})[r.valid_from] = r.valid_until
    changed_rosters = {
        f"{d}/{p}": roster_version(periods)
        for (d, p), periods in before_periods.items()
        if {x["valid_from"]: x["valid_until"] for x in periods} != after_periods[(d, p)]
    }
    record_versions(conn, actor, "roster_entry", changed_rosters)
    provided = {v.designation_id for v in bundle.provisions}
    before_provisions = provision_periods(conn, provided)
    after_provisions = {
        d: {period_key("provisions", p): p["valid_until"] for p in ps} for d, ps in before_provisions.items()
    }
    for v in bundle.provisions:
        after_provisions.setdefault(v.designation_id, {})[period_key("provisions", v)] = v.valid_until
    changed_provisions = {
        d: provision_version(periods)
        for d, periods in before_provisions.items()
        if {period_key("provisions", p): p["valid_until"] for p in periods} != after_provisions[d]
    }
    record_versions(conn, actor, "provision", changed_provisions)


def _links_of(conn: Connection, contract_ids: list[str]) -> dict[str, list[str]]:
    link = ContractDesignation.__table__  # type: ignore[attr-defined]
    found: dict[str, list[str]] = {i: [] for i in contract_ids}
    for chunk in chunks(contract_ids):
        query = select(link.c.contract_id, link.c.designation_id).where(link.c.contract_id.in_(chunk))
        for contract_id, designation_id in conn.execute(query.order_by(link.c.designation_id)):
            found[contract_id].append(designation_id)
    return found


def write_contract_links(conn: Connection, bundle: Bundle) -> None:
    """B2: the designations each contract provides; replaced whole for the contracts in the bundle."""
    link = ContractDesignation.__table__  # type: ignore[attr-defined]
    ids = [contract.id for contract in bundle.contracts]
    current: dict[str, set[str]] = {}
    for chunk in chunks(ids):
        for contract_id, designation_id in conn.execute(
            select(link.c.contract_id, link.c.designation_id).where(link.c.contract_id.in_(chunk))
        ):
            current.setdefault(contract_id, set()).add(designation_id)
    changed = [c for c in bundle.contracts if current.get(c.id, set()) != set(c.designation_ids)]
    for chunk in chunks([c.id for c in changed if c.id in current]):
        conn.execute(link.delete().where(link.c.contract_id.in_(chunk)))
    rows = [{"contract_id": c.id, "designation_id": d} for c in changed for d in sorted(set(c.designation_ids))]
    if rows:
        conn.execute(insert(link), rows)


def _ledger(conn: Connection, changes: list[dict[str, Any]], cabinet_refs: dict[str, str | None], today: date) -> None:
    """D6: designation ledger entries for every designation made, extended (on the day of the extension
    in the configured zone, with its Cabinet approval reference) or cancelled."""
    events = []

    def entry(designation: str, kind: str, on: Any, expires_on: Any = None, ref: str | None = None) -> None:
        events.append(
            {
                "designation_id": designation,
                "kind": kind,
                "on": on,
                "expires_on": expires_on,
                "cabinet_approval_ref": ref,
            }
        )

    for change in changes:
        if change["entity"] != "designation":
            continue
        designation, after, before = change["entity_id"], change["after"], change["before"]
        if before is None:
            entry(designation, "designated", after["designated_on"], after["expires_on"])
        elif "expires_on" in after:
            entry(designation, "extended", today, after["expires_on"], cabinet_refs.get(designation))
        if after.get("cancelled_on"):
            entry(designation, "cancelled", after["cancelled_on"])
    if events:
        conn.execute(insert(DesignationEvent.__table__), events)  # type: ignore[attr-defined]
