"""The registry's snapshot read whole: from the database in one transaction (load_snapshot, with its
history), or from a registry bundle with no database (policy test files); and the mappers from a
table row (or bundle entry) to the fact the engine reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    PersonFact,
    ProvisionFact,
    RosterFact,
)
from gateway.registry.history import History, Key
from gateway.registry.snapshot import RegistrySnapshot, registry_version
from models import (
    Assessment,
    Certification,
    Contract,
    ContractDesignation,
    Designation,
    Document,
    Person,
    Provision,
    RecordVersion,
    RosterEntry,
    StatusPeriod,
)
from models.bundle import Bundle


def load_snapshot(conn: Connection) -> RegistrySnapshot:
    """Read the whole registry in one transaction (one consistent view) into indexed records."""
    rows = {name: conn.execute(select(table.__table__)).all() for name, table in _TABLES.items()}  # type: ignore[attr-defined]
    snapshot = build_snapshot(registry_version(conn), **rows)
    return replace(snapshot, history=load_history(conn))


_PERIODS = StatusPeriod.__table__  # type: ignore[attr-defined]
_VERSIONS = RecordVersion.__table__  # type: ignore[attr-defined]


def load_history(conn: Connection, keys: Iterable[Key] | None = None) -> History:
    """The status periods of records whose status changed and the earlier versions of records, all
    or those of `keys` only."""
    periods, versions = select(_PERIODS).order_by(_PERIODS.c.seq), select(_VERSIONS).order_by(_VERSIONS.c.seq)
    if keys is None:
        changed = select(_PERIODS.c.entity, _PERIODS.c.entity_id).group_by(_PERIODS.c.entity, _PERIODS.c.entity_id)
        changed = changed.having(func.count() > 1)
        period_rows = conn.execute(periods.where(tuple_(_PERIODS.c.entity, _PERIODS.c.entity_id).in_(changed))).all()
        version_rows = conn.execute(versions).all()
    else:
        period_rows, version_rows = [], []
        by_entity: dict[str, list[str]] = defaultdict(list)
        for entity, entity_id in keys:
            by_entity[entity].append(entity_id)
        for entity, ids in by_entity.items():
            for start in range(0, len(ids), 500):
                chunk = sorted(ids)[start : start + 500]
                period_rows += conn.execute(
                    periods.where(_PERIODS.c.entity == entity, _PERIODS.c.entity_id.in_(chunk))
                ).all()
                version_rows += conn.execute(
                    versions.where(_VERSIONS.c.entity == entity, _VERSIONS.c.entity_id.in_(chunk))
                ).all()
        period_rows.sort(key=lambda r: r.seq)
        version_rows.sort(key=lambda r: r.seq)
    statuses: dict[Key, list[tuple[datetime, str]]] = defaultdict(list)
    for r in period_rows:
        statuses[(r.entity, r.entity_id)].append((r.recorded_at, r.status))
    earlier: dict[Key, list[tuple[datetime, Any]]] = defaultdict(list)
    for r in version_rows:
        earlier[(r.entity, r.entity_id)].append((r.superseded_at, _version_fact(r.entity, r.entity_id, r.record)))
    return History.of(
        {key: tuple(p) for key, p in statuses.items() if len(p) > 1},
        {key: tuple(sorted(v, key=lambda pair: pair[0])) for key, v in earlier.items()},
    )


def _version_fact(entity: str, entity_id: str, record: dict[str, Any]) -> Any:
    """The fact a record_versions row describes (dates are ISO strings in its JSON)."""
    fields: dict[str, Any] = {
        k: date.fromisoformat(v) if k in _DATES and v is not None else v for k, v in record.items()
    }
    if entity == "designation":
        return designation_fact(SimpleNamespace(**fields))
    if entity == "contract":
        return contract_fact(SimpleNamespace(**fields), fields.get("designation_ids", ()))
    if entity == "provision":  # every provision period of one designation, as they were
        return provisions_of(entity_id, fields["periods"])
    designation_id, person_id = entity_id.split("/", 1)
    periods = [
        SimpleNamespace(
            designation_id=designation_id,
            person_id=person_id,
            valid_from=date.fromisoformat(p["valid_from"]),
            valid_until=date.fromisoformat(p["valid_until"]) if p["valid_until"] else None,
        )
        for p in fields["periods"]
    ]
    return roster_fact(periods) if periods else None


_DATES = {"designated_on", "expires_on", "cancelled_on", "starts_on", "ends_on"}


_TABLES = {
    "persons": Person,
    "designations": Designation,
    "documents": Document,
    "assessments": Assessment,
    "certifications": Certification,
    "contract_links": ContractDesignation,
    "contracts": Contract,
    "roster": RosterEntry,
    "provisions": Provision,
}


def snapshot_from_bundle(bundle: Bundle) -> RegistrySnapshot:
    """A snapshot straight from a registry bundle, with no database (policy test files use it)."""
    links = [SimpleNamespace(contract_id=k.id, designation_id=d) for k in bundle.contracts for d in k.designation_ids]
    return build_snapshot(
        0,
        persons=bundle.persons,
        designations=bundle.designations,
        documents=[
            SimpleNamespace(id=d.id, designation_id=d.designation_id, media_type=d.media_type, size=0, sha256="")
            for d in bundle.documents
        ],
        assessments=bundle.assessments,
        certifications=bundle.certifications,
        contract_links=links,
        contracts=bundle.contracts,
        roster=bundle.rosters,
        provisions=bundle.provisions,
    )


def build_snapshot(
    version: int,
    *,
    persons: Iterable[Any],
    designations: Iterable[Any],
    documents: Iterable[Any],
    assessments: Iterable[Any],
    certifications: Iterable[Any],
    contract_links: Iterable[Any],
    contracts: Iterable[Any],
    roster: Iterable[Any],
    provisions: Iterable[Any] = (),
) -> RegistrySnapshot:
    """Index registry records (rows or bundle entries: anything with the table's attribute names)."""
    covered: dict[str, set[str]] = defaultdict(set)
    for r in contract_links:
        covered[r.contract_id].add(r.designation_id)
    return RegistrySnapshot(
        version=version,
        persons={r.id: person_fact(r) for r in persons},
        documents={r.id: document_fact(r) for r in documents},
        designations={r.id: designation_fact(r) for r in designations},
        assessments=grouped(assessments, "person_id", assessment_fact),
        certifications=grouped(certifications, "operator_id", certification_fact),
        contracts=grouped(contracts, "operator_id", lambda r: contract_fact(r, covered[r.id])),
        roster=rosters_of(roster),
        provisions=grouped(sorted(provisions, key=period_order), "designation_id", provision_fact),
    )


def rosters_of(rows: Iterable[Any]) -> dict[tuple[str, str], RosterFact]:
    periods: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        periods[(r.designation_id, r.person_id)].append(r)
    return {key: roster_fact(p) for key, p in periods.items()}


def grouped(rows: Iterable[Any], by: str, fact: Any) -> dict[str, tuple[Any, ...]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        groups[getattr(r, by)].append(fact(r))
    return {k: tuple(v) for k, v in groups.items()}


def person_fact(r: Any) -> PersonFact:
    return PersonFact(r.id, r.kind, r.organ_id, r.operator_id, r.department, r.office)


def document_fact(r: Any) -> DocumentFact:
    return DocumentFact(r.id, r.designation_id, r.media_type, r.size, r.sha256)


def designation_fact(r: Any) -> DesignationFact:
    return DesignationFact(r.id, r.organ_id, r.scheme, r.designated_on, r.expires_on, r.cancelled_on)


def assessment_fact(r: Any) -> AssessmentFact:
    return AssessmentFact(r.id, r.organ_id, r.scheme, r.result, r.notified_on, r.status)


def certification_fact(r: Any) -> CertificationFact:
    return CertificationFact(r.id, r.organ_id, r.certified_on, r.status)


def contract_fact(r: Any, covered: Iterable[str]) -> ContractFact:
    return ContractFact(r.id, r.organ_id, r.starts_on, r.ends_on, frozenset(covered), frozenset(r.departments))


def period_order(r: Any) -> tuple[str, date]:
    return r.organ_id, r.valid_from


def provision_fact(r: Any) -> ProvisionFact:
    return ProvisionFact(r.designation_id, r.organ_id, r.valid_from, r.valid_until)


def provisions_of(designation_id: str, periods: list[dict[str, Any]]) -> tuple[ProvisionFact, ...]:
    """C5a: a designation's provision periods from their JSON form (a record version)."""
    return tuple(
        ProvisionFact(
            designation_id,
            p["organ_id"],
            date.fromisoformat(p["valid_from"]),
            date.fromisoformat(p["valid_until"]) if p["valid_until"] else None,
        )
        for p in periods
    )


def roster_fact(periods: list[Any]) -> RosterFact:
    """N1: the periods of one (designation, person): the latest, and the earlier ones."""
    ordered = sorted(periods, key=lambda r: r.valid_from)
    last = ordered[-1]
    earlier = tuple((r.valid_from, r.valid_until) for r in ordered[:-1])
    return RosterFact(last.designation_id, last.person_id, last.valid_from, last.valid_until, earlier)
