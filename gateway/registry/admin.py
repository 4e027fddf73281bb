"""Registry administration: reading records, the one transaction every change runs in (with its change
event), record-by-record maintenance. Status transitions and the designation lifecycle are in
lifecycle.py, the transitions' rules in transitions.py.

Every change is one transaction that also writes its change event (R4). The event's sequence is the
registry's version (gateway/registry/snapshot.py), so committing both together is what makes the
change visible to the next decision on every replica. A refusal raises before anything is written
and rolls the transaction back whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from gateway.db import READ_ONLY
from gateway.errors import Conflict, FieldError, InvalidInput, NotFound, RefusedData
from gateway.registry.bundle_checks import parse_bundle, validate
from gateway.registry.changes import Actor, record_changes
from gateway.registry.importer import write_contract_links
from gateway.registry.recording import FIRST_DAY, record_statuses, record_versions
from gateway.registry.tables import ENTITY, T
from gateway.registry.transitions import TRANSITIONS, refused_transition
from gateway.registry.validation import RegistryRules
from models import ContractDesignation, DesignationEvent, StatusPeriod
from models.bundle import Bundle

RECORDS = ("organs", "operators", "persons", "assessments", "certifications", "designations", "contracts")
SINGULAR = {plural: ENTITY[plural] for plural in RECORDS}
WITH_STATUS = ("assessments", "certifications")
_LINKS: Table = ContractDesignation.__table__  # type: ignore[attr-defined]
_LEDGER: Table = DesignationEvent.__table__  # type: ignore[attr-defined]
_PERIODS: Table = StatusPeriod.__table__  # type: ignore[attr-defined]
_OWNED = {"contracts": {"contract_designations"}}  # rows deleted with their owner, not references to it
# The filters each list takes (column = value); any other query parameter is refused, never ignored.
FILTERS: dict[str, tuple[str, ...]] = {
    "organs": (),
    "operators": ("corporate_number",),
    "persons": ("kind", "organ_id", "operator_id", "department", "office"),
    "assessments": ("person_id", "organ_id", "scheme", "result", "status"),
    "certifications": ("operator_id", "organ_id", "status"),
    "designations": ("organ_id", "scheme", "category"),
    "contracts": ("operator_id", "organ_id", "designation_id"),
}
READ_ONLY_FIELDS = {"roster", "status_history"}  # shown with a record, never written through it


# --- reading -------------------------------------------------------------------------------------


def _record(conn: Connection, plural: str, entity_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    """One record in the shape of a bundle entry (a contract with its designation_ids)."""
    table = T[plural]
    query = select(table).where(table.c.id == entity_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    record = dict(row._mapping)
    if plural == "contracts":
        links = select(_LINKS.c.designation_id).where(_LINKS.c.contract_id == entity_id)
        record["designation_ids"] = sorted(conn.execute(links).scalars())
    return record


def existing_record(conn: Connection, plural: str, entity_id: str, *, lock: bool = False) -> dict[str, Any]:
    record = _record(conn, plural, entity_id, lock=lock)
    if record is None:
        raise NotFound(f"no {SINGULAR[plural]} {entity_id!r}")
    return record


def _view(conn: Connection, plural: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as administrators read it: a designation with its roster (N1), an assessment or a
    certification with its dated status periods (C7, B3)."""
    if plural == "designations":
        table = T["rosters"]
        query = select(table).where(table.c.designation_id == record["id"])
        rows = conn.execute(query.order_by(table.c.person_id, table.c.valid_from))
        return record | {"roster": [roster_view(dict(r._mapping)) for r in rows]}
    if plural in WITH_STATUS:
        periods = _PERIODS
        query = select(periods).where(periods.c.entity == SINGULAR[plural], periods.c.entity_id == record["id"])
        history = [
            {"status": r.status, "from": r.starts_on, "recorded_at": r.recorded_at}
            for r in conn.execute(query.order_by(periods.c.seq))
        ]
        return record | {"status_history": history}
    return record


def get_record(engine: Engine, plural: str, entity_id: str) -> dict[str, Any]:
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        return _view(conn, plural, existing_record(conn, plural, entity_id))


def list_records(
    engine: Engine, plural: str, limit: int = 100, offset: int = 0, filters: dict[str, str] | None = None
) -> dict[str, Any]:
    """A page of the records that match every filter (FILTERS), ordered by id, and how many match."""
    table = T[plural]
    where = []
    for name, value in (filters or {}).items():
        if name not in FILTERS[plural]:
            raise ValueError(f"{plural} cannot be filtered by {name!r}")
        if name == "designation_id":  # B2: the contracts that provide the designation
            where.append(table.c.id.in_(select(_LINKS.c.contract_id).where(_LINKS.c.designation_id == value)))
        else:
            where.append(table.c[name] == value)
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        page = select(table).where(*where).order_by(table.c.id).limit(limit).offset(offset)
        items = [dict(row._mapping) for row in conn.execute(page)]
        if plural == "contracts" and items:
            covered: dict[str, list[str]] = {item["id"]: [] for item in items}
            links = select(_LINKS).where(_LINKS.c.contract_id.in_(covered)).order_by(_LINKS.c.designation_id)
            for link in conn.execute(links):
                covered[link.contract_id].append(link.designation_id)
            for item in items:
                item["designation_ids"] = covered[item["id"]]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# --- writing -------------------------------------------------------------------------------------


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One transaction; a database constraint that still trips (a concurrent writer) is a 409, not a 500."""
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as exc:
        raise Conflict("the registry changed meanwhile or still refers to this record; nothing was written") from exc


def record_event(
    conn: Connection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """R4: who (actor), when (now), what (action, entity), before and after: one event per change."""
    record_changes(
        conn, actor, [{"action": action, "entity": entity, "entity_id": entity_id, "before": before, "after": after}]
    )


def ledger_entry(
    conn: Connection, designation_id: str, kind: str, on: date, expires_on: date | None, ref: str | None
) -> None:
    """D6: a designation's ledger history; rows are only ever added."""
    conn.execute(
        insert(_LEDGER).values(
            designation_id=designation_id, kind=kind, on=on, expires_on=expires_on, cabinet_approval_ref=ref
        )
    )


# --- handler rosters (N1) ------------------------------------------------------------------------


def roster_view(row: dict[str, Any]) -> dict[str, Any]:
    """A roster entry in the bundle's words (`from`, `until`)."""
    return {
        "designation_id": row["designation_id"],
        "person_id": row["person_id"],
        "from": row["valid_from"],
        "until": row["valid_until"],
    }


# --- records, one at a time ----------------------------------------------------------------------


def local_errors(errors: list[FieldError]) -> list[FieldError]:
    """Errors of a one-entity bundle, located in the entity itself: ("persons", 0, "organ_id") -> ("organ_id",)."""
    return [FieldError(e.location[2:], e.detail) for e in errors]


def _one(plural: str, data: Any, entity_id: str) -> Bundle:
    """Parse one entity exactly as an import would (strict JSON types, no unknown fields)."""
    singular = SINGULAR[plural]
    if not isinstance(data, dict):
        raise InvalidInput(f"a {singular} is a JSON object", [FieldError((), "expected a JSON object")])
    data = {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
    if data.get("id", entity_id) != entity_id:
        message = f"the body's id {data['id']!r} is not the id in the path, {entity_id!r}"
        raise InvalidInput(f"the {singular} is invalid", [FieldError(("id",), message)])
    try:
        return parse_bundle(orjson.dumps({plural: [{**data, "id": entity_id}]}))
    except InvalidInput as exc:
        raise InvalidInput(f"the {singular} does not match its schema", local_errors(exc.errors)) from exc


def _put_problems(conn: Connection, plural: str, entry: Any) -> list[FieldError]:
    """What a single record needs beyond the import's checks."""
    if plural == "operators":  # B1: one corporate number, one operator
        table = T["operators"]
        same = select(table.c.id).where(table.c.corporate_number == entry.corporate_number, table.c.id != entry.id)
        other = conn.execute(same).scalar()
        if other is not None:
            return [FieldError(("corporate_number",), f"operator {other!r} already has this corporate number")]
    return []


def _put_conflict(plural: str, before: dict[str, Any] | None, entry: Any) -> None:
    """A replacement may not do what the transitions refuse (C7) nor rewrite the ledger (D6)."""
    if before is None:
        return
    moves = {(src, dst) for sources, dst in TRANSITIONS.values() for src in sources}
    if plural in WITH_STATUS and before["status"] != entry.status and (before["status"], entry.status) not in moves:
        raise refused_transition(plural, entry.id, before["status"], f"become {entry.status}")
    if plural != "designations" or before["cancelled_on"] is None:
        return
    if (entry.cancelled_on, entry.expires_on) != (before["cancelled_on"], before["expires_on"]):
        raise Conflict(
            f"designation {entry.id} was cancelled on {before['cancelled_on']}; its cancellation and period "
            "stay as recorded (D6)"
        )


def _designation_ledger(
    conn: Connection, before: dict[str, Any] | None, after: dict[str, Any], ref: str | None, today: date
) -> None:
    """D6: the ledger rows a replacement of a designation implies."""
    designation_id = after["id"]
    if before is None:
        ledger_entry(conn, designation_id, "designated", after["designated_on"], after["expires_on"], None)
    elif after["expires_on"] != before["expires_on"]:
        ledger_entry(conn, designation_id, "extended", today, after["expires_on"], ref)
    if after["cancelled_on"] is not None and (before is None or before["cancelled_on"] is None):
        ledger_entry(conn, designation_id, "cancelled", after["cancelled_on"], None, None)


def _keep_history(
    conn: Connection, actor: Actor, plural: str, before: dict[str, Any] | None, row: dict[str, Any], entry: Any
) -> None:
    """A record's first status period, a status change (C7, B3), or the version a replacement ends."""
    singular = SINGULAR[plural]
    if plural in WITH_STATUS:
        if before is None:
            record_statuses(conn, actor, singular, [(entry.id, entry.status, row[FIRST_DAY[singular]])])
        elif before["status"] != entry.status:
            record_statuses(conn, actor, singular, [(entry.id, entry.status, None)])
    elif plural in ("designations", "contracts") and before is not None:
        new = row | ({"designation_ids": sorted(set(entry.designation_ids))} if plural == "contracts" else {})
        if any(before.get(k) != v for k, v in new.items()):
            record_versions(conn, actor, singular, {entry.id: before})


def put_record(
    engine: Engine, actor: Actor, plural: str, entity_id: str, data: Any, today: date, rules: RegistryRules
) -> tuple[dict[str, Any], bool]:
    """Create or replace one record by id, validated as an import of it would be: (record, created)."""
    singular, table = SINGULAR[plural], T[plural]
    bundle = _one(plural, data, entity_id)
    entry = getattr(bundle, plural)[0]
    with writing(engine) as conn:
        before = _record(conn, plural, entity_id, lock=True)
        errors = local_errors(validate(bundle, conn, today, rules)) + _put_problems(conn, plural, entry)
        if errors:
            raise RefusedData(f"the {singular} {entity_id} is refused; nothing was written", errors)
        _put_conflict(plural, before, entry)
        columns = set(table.c.keys())
        row = {k: v for k, v in entry.model_dump().items() if k in columns}
        _keep_history(conn, actor, plural, before, row, entry)
        if before is None:
            conn.execute(insert(table).values(**row))
        else:
            conn.execute(update(table).where(table.c.id == entity_id).values(**row))
        if plural == "contracts":
            write_contract_links(conn, bundle)
        after = existing_record(conn, plural, entity_id)
        if plural == "designations":
            _designation_ledger(conn, before, after, (entry.cabinet_approval_ref or "").strip() or None, today)
        if after != before:
            action = f"{singular}.create" if before is None else f"{singular}.replace"
            record_event(conn, actor, action, singular, entity_id, before, after)
        shown = _view(conn, plural, after)
    return shown, before is None


def _references(conn: Connection, plural: str, entity_id: str) -> list[dict[str, Any]]:
    """Every row of another table whose foreign key names this record, counted per table and column."""
    target, owned = T[plural], _OWNED.get(plural, set())
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in owned:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is target:
                count = conn.execute(select(func.count()).select_from(table).where(fk.parent == entity_id)).scalar_one()
                if count:
                    found.append({"table": table.name, "column": fk.parent.name, "count": count})
    return found


def delete_record(engine: Engine, actor: Actor, plural: str, entity_id: str) -> dict[str, Any]:
    """Delete a record nothing refers to; designations never (D6). Returns the record as it was."""
    singular, table = SINGULAR[plural], T[plural]
    with writing(engine) as conn:
        before = existing_record(conn, plural, entity_id, lock=True)
        if plural == "designations":
            raise Conflict(
                f"designation {entity_id} cannot be deleted: ledger entries are kept for good (D6); "
                f"to end it, cancel it (POST /v1/admin/designations/{entity_id}/cancel)"
            )
        references = _references(conn, plural, entity_id)
        if references:
            named = ", ".join(f"{r['count']} {r['table']} ({r['column']})" for r in references)
            raise Conflict(
                f"{singular} {entity_id} is referred to by {named}; change or delete those first",
                extra={"referred_by": references},
            )
        if plural == "contracts":
            conn.execute(delete(_LINKS).where(_LINKS.c.contract_id == entity_id))
        conn.execute(delete(table).where(table.c.id == entity_id))
        record_event(conn, actor, f"{singular}.delete", singular, entity_id, before, None)
    return before
