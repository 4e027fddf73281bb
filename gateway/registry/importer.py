"""Registry bundle import (api.md): validate everything first, then write all of it or nothing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from gateway.errors import FieldError, InvalidInput
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
from gateway.registry.validation import (
    RegistryRules,
    backdated_problem,
    before_act_problem,
    corporate_number_is_valid,
    expected_check_digit,
    expired_problem,
)
from gateway.store import DocumentStore
from models import (
    Assessment,
    Certification,
    Contract,
    ContractDesignation,
    Designation,
    DesignationEvent,
    Document,
    Operator,
    Organ,
    Person,
    Provision,
    RosterEntry,
)
from models.bundle import Bundle

T = {
    name: model.__table__
    for name, model in {  # type: ignore[attr-defined]
        "organs": Organ,
        "operators": Operator,
        "persons": Person,
        "assessments": Assessment,
        "certifications": Certification,
        "designations": Designation,
        "contracts": Contract,
        "rosters": RosterEntry,
        "provisions": Provision,
        "documents": Document,
    }.items()
}
ENTITY = {
    "organs": "organ",
    "operators": "operator",
    "persons": "person",
    "assessments": "assessment",
    "certifications": "certification",
    "designations": "designation",
    "contracts": "contract",
    "rosters": "roster_entry",
    "provisions": "provision",
    "documents": "document",
}
ORDER = (
    "organs",
    "operators",
    "persons",
    "designations",
    "assessments",
    "certifications",
    "contracts",
    "rosters",
    "provisions",
    "documents",
)
# Sections whose entries are periods, keyed by (designation, holder, start) rather than an id.
PERIOD_KEYS = {
    "rosters": ("designation_id", "person_id", "valid_from"),  # N1
    "provisions": ("designation_id", "organ_id", "valid_from"),  # C5a
}


def period_key(name: str, row: Any) -> tuple[Any, ...]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return tuple(get(k) for k in PERIOD_KEYS[name])


def entity_id_of(name: str, row: dict[str, Any]) -> str:
    """The change log's id of an entry: its id, or "designation/holder" for a period."""
    return "/".join(period_key(name, row)[:2]) if name in PERIOD_KEYS else row["id"]


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


def parse_bundle(raw: bytes | str) -> Bundle:
    try:
        return Bundle.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidInput("The registry bundle is invalid", from_pydantic(exc.errors())) from exc


def from_pydantic(errors: Iterable[dict[str, Any]], prefix: tuple[Any, ...] = ()) -> list[FieldError]:
    result = []
    for error in errors:
        loc = prefix + tuple(part for part in error["loc"] if part not in ("body",))
        if error["type"] == "json_invalid":
            result.append(FieldError((), f"not valid JSON: {error['ctx'].get('error', error['msg'])}"))
            continue
        result.append(FieldError(loc, error["msg"]))
    return result


class _Existing:
    """Ids already in the database, for reference checks (read once per import)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self._cache: dict[str, set[str]] = {}

    def ids(self, table: str) -> set[str]:
        if table not in self._cache:
            self._cache[table] = set(self.conn.execute(select(T[table].c.id)).scalars())
        return self._cache[table]


def validate(
    bundle: Bundle, conn: Connection, today: date | None = None, rules: RegistryRules | None = None
) -> list[FieldError]:
    """Every semantic problem, each by its JSON path; empty when the bundle may be written.

    `today` (in the configured zone) is the day the change would be made: what may not reach back
    before it (D3: a cancellation; D2: reviving an expired designation) is checked only with it.
    `rules` (the policy's D2 limits and D4 catalogue) are what a bundle with designations is checked
    against; only a bundle without designations (a roster entry, a provision) goes without them."""
    if rules is None and bundle.designations:
        raise ValueError("designations are validated against the policy's registry rules: pass them")
    errors: list[FieldError] = []
    existing = _Existing(conn)

    def bad(path: tuple[Any, ...], message: str) -> None:
        errors.append(FieldError(path, message))

    for name in ORDER:
        seen: dict[Any, int] = {}
        for i, entry in enumerate(getattr(bundle, name)):
            key = period_key(name, entry) if name in PERIOD_KEYS else entry.id
            if key in seen:
                bad((name, i), f"duplicate of {name}[{seen[key]}]")
            seen.setdefault(key, i)

    known_ids: dict[str, set[str]] = {}

    def known(table: str) -> set[str]:
        """The ids a reference may name: in the database or in the bundle (built once per table)."""
        if table not in known_ids:
            known_ids[table] = existing.ids(table) | {e.id for e in getattr(bundle, table)}
        return known_ids[table]

    def ref(path: tuple[Any, ...], table: str, value: str | None) -> None:
        if value is not None and value not in known(table):
            bad(path, f"unknown {ENTITY[table]} {value!r}")

    numbers: dict[str, int] = {}
    for i, op in enumerate(bundle.operators):
        if not corporate_number_is_valid(op.corporate_number):
            bad(
                ("operators", i, "corporate_number"),
                f"invalid corporate number: its check digit is {op.corporate_number[0]}, "
                f"{expected_check_digit(op.corporate_number)} was expected (B1)",
            )
        if op.corporate_number in numbers:
            bad(
                ("operators", i, "corporate_number"),
                f"same corporate number as operators[{numbers[op.corporate_number]}]",
            )
        numbers.setdefault(op.corporate_number, i)
    if numbers:
        operators = T["operators"]
        taken = {
            number: owner
            for owner, number in conn.execute(
                select(operators.c.id, operators.c.corporate_number).where(
                    operators.c.corporate_number.in_(list(numbers))
                )
            )
        }
        for i, op in enumerate(bundle.operators):
            owner = taken.get(op.corporate_number)
            if owner is not None and owner != op.id:
                bad(("operators", i, "corporate_number"), f"operator {owner!r} already has this corporate number")
    _final_states(bundle, conn, bad)
    for i, p in enumerate(bundle.persons):
        if p.kind == "government":
            if p.organ_id is None:
                bad(("persons", i, "organ_id"), "government staff need the organ they serve")
            if p.operator_id is not None:
                bad(("persons", i, "operator_id"), "government staff have no operator")
        else:
            if p.operator_id is None:
                bad(("persons", i, "operator_id"), "a contractor's employee needs the operator")
            if not p.department:
                bad(("persons", i, "department"), "a contractor's employee needs a department (B2)")
            if p.organ_id is not None:
                bad(("persons", i, "organ_id"), "a contractor's employee serves no organ")
            if p.office is not None:
                bad(("persons", i, "office"), "statutory offices are held by government staff")
        ref(("persons", i, "organ_id"), "organs", p.organ_id)
        ref(("persons", i, "operator_id"), "operators", p.operator_id)
    for i, a in enumerate(bundle.assessments):
        ref(("assessments", i, "person_id"), "persons", a.person_id)
        ref(("assessments", i, "organ_id"), "organs", a.organ_id)
        if early := before_act_problem(a.scheme, a.notified_on, a.transitional, "assessment notified"):
            bad(("assessments", i, "notified_on"), early)
    for i, c in enumerate(bundle.certifications):
        ref(("certifications", i, "operator_id"), "operators", c.operator_id)
        ref(("certifications", i, "organ_id"), "organs", c.organ_id)
    current = _rows(conn, "designations", [d.id for d in bundle.designations])
    for i, d in enumerate(bundle.designations):
        ref(("designations", i, "organ_id"), "organs", d.organ_id)
        if early := before_act_problem(d.scheme, d.designated_on, d.transitional, "designation made"):
            bad(("designations", i, "designated_on"), early)
        assert rules is not None
        if wrong := rules.category_problem(d.scheme, d.category):
            bad(("designations", i, "category"), wrong)
        before = current.get(d.id)
        if before is None:
            problem = rules.first_period_problem(d.scheme, d.designated_on, d.expires_on)
            if problem:
                bad(("designations", i, "expires_on"), problem)
        else:
            if before["organ_id"] != d.organ_id:
                bad(
                    ("designations", i, "organ_id"),
                    f"the designating organ of a designation never changes (D1; it is {before['organ_id']}): "
                    "cancel it and make a new designation",
                )
            if before["scheme"] != d.scheme:
                bad(
                    ("designations", i, "scheme"),
                    f"the scheme of a designation never changes (D1; it is {before['scheme']}), since it decides "
                    "who may read it: cancel it and make a new designation under the other scheme",
                )
            if before["designated_on"] != d.designated_on:
                bad(("designations", i, "designated_on"), "designated_on of an existing designation never changes (D6)")
            if d.expires_on != before["expires_on"]:
                problem = rules.extension_problem(
                    d.scheme, d.designated_on, before["expires_on"], d.expires_on, d.cabinet_approval_ref
                )
                problem = problem or (expired_problem(d.id, before["expires_on"], today) if today else None)
                if problem:
                    bad(("designations", i, "expires_on"), problem)
            if today is not None and before["cancelled_on"] is None and d.cancelled_on is not None:
                problem = backdated_problem(d.cancelled_on, today)
                if problem:
                    bad(("designations", i, "cancelled_on"), problem)
        if d.cancelled_on is not None and d.cancelled_on < d.designated_on:
            bad(("designations", i, "cancelled_on"), "a designation cannot be cancelled before it was made")
    organ_of = {
        **{k: v["organ_id"] for k, v in _rows(conn, "designations", None, ["id", "organ_id"]).items()},
        **{d.id: d.organ_id for d in bundle.designations},
    }
    for i, k in enumerate(bundle.contracts):
        ref(("contracts", i, "operator_id"), "operators", k.operator_id)
        ref(("contracts", i, "organ_id"), "organs", k.organ_id)
        if k.ends_on < k.starts_on:
            bad(("contracts", i, "ends_on"), f"ends_on {k.ends_on} is before starts_on {k.starts_on}")
        for j, des in enumerate(k.designation_ids):
            if des not in organ_of:
                bad(("contracts", i, "designation_ids", j), f"unknown designation {des!r}")
            elif organ_of[des] != k.organ_id:
                bad(
                    ("contracts", i, "designation_ids", j),
                    f"designation {des!r} is {organ_of[des]}'s; a contract with {k.organ_id} cannot provide it (B1)",
                )
        for j, dept in enumerate(k.departments):
            if not dept.strip():
                bad(("contracts", i, "departments", j), "a department name cannot be empty")
    for i, r in enumerate(bundle.rosters):
        ref(("rosters", i, "designation_id"), "designations", r.designation_id)
        ref(("rosters", i, "person_id"), "persons", r.person_id)
        if r.valid_until is not None and r.valid_until < r.valid_from:
            bad(("rosters", i, "until"), f"until {r.valid_until} is before from {r.valid_from}")
    for i, v in enumerate(bundle.provisions):
        ref(("provisions", i, "designation_id"), "designations", v.designation_id)
        ref(("provisions", i, "organ_id"), "organs", v.organ_id)
        if organ_of.get(v.designation_id) == v.organ_id:
            bad(("provisions", i, "organ_id"), f"designation {v.designation_id!r} is {v.organ_id}'s own (C5a)")
        if v.valid_until is not None and v.valid_until < v.valid_from:
            bad(("provisions", i, "until"), f"until {v.valid_until} is before from {v.valid_from}")
    docs = existing.ids("documents")
    for i, doc in enumerate(bundle.documents):
        ref(("documents", i, "designation_id"), "designations", doc.designation_id)
        if doc.content_base64 is None:
            if doc.id not in docs:
                bad(("documents", i, "content_base64"), "a new document needs its content")
        else:
            try:
                base64.b64decode(doc.content_base64, validate=True)
            except (binascii.Error, ValueError):
                bad(("documents", i, "content_base64"), "not valid base64")
    return errors


def _final_states(bundle: Bundle, conn: Connection, bad: Callable[[tuple[Any, ...], str], None]) -> None:
    """C7: a revocation is final. D6: a cancellation stays in the ledger. An import cannot undo either."""
    for name in ("assessments", "certifications"):
        entries = getattr(bundle, name)
        current = _rows(conn, name, [e.id for e in entries], ["id", "status"])
        for i, entry in enumerate(entries):
            if current.get(entry.id, {}).get("status") == "revoked" and entry.status != "revoked":
                bad((name, i, "status"), "a revoked record stays revoked (C7): make a new record instead")
    current = _rows(conn, "designations", [d.id for d in bundle.designations], ["id", "cancelled_on"])
    for i, d in enumerate(bundle.designations):
        was = current.get(d.id, {}).get("cancelled_on")
        if was is not None and d.cancelled_on != was:
            bad(("designations", i, "cancelled_on"), f"the designation was cancelled on {was}; that stays (D6)")


def _rows(
    conn: Connection, table: str, ids: list[str] | None, columns: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    t = T[table]
    cols = [t.c[c] for c in columns] if columns else [t]
    out: dict[str, dict[str, Any]] = {}
    if ids is None:
        for row in conn.execute(select(*cols)):
            out[row.id] = dict(row._mapping)
        return out
    for chunk in _chunks(ids):
        for row in conn.execute(select(*cols).where(t.c.id.in_(chunk))):
            out[row.id] = dict(row._mapping)
    return out


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Slices short enough for an IN (...) list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


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
        raise InvalidInput("The registry bundle is invalid; nothing was imported", errors, status=422)
    result = ImportResult()
    changes = result.changes
    _keep_history(conn, actor, bundle)
    for name in ORDER:
        entries = getattr(bundle, name)
        rows = [_row(name, e, store) for e in entries]
        _upsert(conn, name, rows, result, changes)
        if progress:
            progress(name, len(entries))
    _contract_links(conn, bundle)
    _ledger(conn, changes, {d.id: d.cabinet_approval_ref for d in bundle.designations}, today)
    try:
        record_changes(conn, actor, changes)
    except DBIntegrityError as exc:  # a concurrent writer raced us: nothing is written
        raise InvalidInput("The registry changed during the import; try again", [], status=409) from exc
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
        return _rows(conn, name, [r["id"] for r in rows])
    holder = PERIOD_KEYS[name][1]
    out = {}
    for chunk in _chunks(sorted({r[holder] for r in rows})):
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
        current = _rows(conn, name, [e.id for e in entries], ["id", "status"])
        periods = [
            (e.id, e.status, None if e.id in current else getattr(e, FIRST_DAY[singular]))
            for e in entries
            if current.get(e.id, {}).get("status") != e.status
        ]
        record_statuses(conn, actor, singular, periods)
    for name in ("designations", "contracts"):
        entries = getattr(bundle, name)
        current = _rows(conn, name, [e.id for e in entries])
        if name == "contracts":
            for contract_id, designations in _links_of(conn, list(current)).items():
                current[contract_id]["designation_ids"] = designations
        changed = {}
        for e in entries:
            before = current.get(e.id)
            if before is None:
                continue
            new = _row(name, e, None) | (
                {"designation_ids": sorted(set(e.designation_ids))} if name == "contracts" else {}
            )  # type: ignore[arg-type]
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
    designations = {v.designation_id for v in bundle.provisions}
    before_provisions = provision_periods(conn, designations)
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
    for chunk in _chunks(contract_ids):
        query = select(link.c.contract_id, link.c.designation_id).where(link.c.contract_id.in_(chunk))
        for contract_id, designation_id in conn.execute(query.order_by(link.c.designation_id)):
            found[contract_id].append(designation_id)
    return found


def _contract_links(conn: Connection, bundle: Bundle) -> None:
    """B2: the designations each contract provides; replaced whole for the contracts in the bundle."""
    link = ContractDesignation.__table__  # type: ignore[attr-defined]
    ids = [contract.id for contract in bundle.contracts]
    current: dict[str, set[str]] = {}
    for chunk in _chunks(ids):
        for contract_id, designation_id in conn.execute(
            select(link.c.contract_id, link.c.designation_id).where(link.c.contract_id.in_(chunk))
        ):
            current.setdefault(contract_id, set()).add(designation_id)
    changed = [c for c in bundle.contracts if current.get(c.id, set()) != set(c.designation_ids)]
    for chunk in _chunks([c.id for c in changed if c.id in current]):
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
