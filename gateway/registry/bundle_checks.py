"""A registry bundle checked before anything is written: its shape (pydantic), then every rule against
itself and the database (references, D2-D6, B1, C7, the ESI Act's floor), each problem by JSON path."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from gateway.errors import FieldError, InvalidInput
from gateway.registry.tables import ENTITY, ORDER, PERIOD_KEYS, T, period_key
from gateway.registry.validation import (
    RegistryRules,
    backdated_problem,
    before_act_problem,
    corporate_number_is_valid,
    expected_check_digit,
    expired_problem,
)
from models.bundle import Bundle
from models.vocabulary import Status


def parse_bundle(raw: bytes | str) -> Bundle:
    try:
        return Bundle.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidInput("The registry bundle is invalid", from_pydantic(exc.errors())) from exc


def from_pydantic(errors: Iterable[Mapping[str, Any]], prefix: tuple[Any, ...] = ()) -> list[FieldError]:
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
    current = rows_by_id(conn, "designations", [d.id for d in bundle.designations])
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
        **{k: v["organ_id"] for k, v in rows_by_id(conn, "designations", None, ["id", "organ_id"]).items()},
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
        current = rows_by_id(conn, name, [e.id for e in entries], ["id", "status"])
        for i, entry in enumerate(entries):
            if current.get(entry.id, {}).get("status") == Status.REVOKED and entry.status != Status.REVOKED:
                bad((name, i, "status"), "a revoked record stays revoked (C7): make a new record instead")
    current = rows_by_id(conn, "designations", [d.id for d in bundle.designations], ["id", "cancelled_on"])
    for i, d in enumerate(bundle.designations):
        was = current.get(d.id, {}).get("cancelled_on")
        if was is not None and d.cancelled_on != was:
            bad(("designations", i, "cancelled_on"), f"the designation was cancelled on {was}; that stays (D6)")


def rows_by_id(
    conn: Connection, table: str, ids: list[str] | None, columns: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    t = T[table]
    cols = [t.c[c] for c in columns] if columns else [t]
    out: dict[str, dict[str, Any]] = {}
    if ids is None:
        for row in conn.execute(select(*cols)):
            out[row.id] = dict(row._mapping)
        return out
    for chunk in chunks(ids):
        for row in conn.execute(select(*cols).where(t.c.id.in_(chunk))):
            out[row.id] = dict(row._mapping)
    return out


def chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Slices short enough for an IN (...) list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
