"""The policy information point: the registry held in memory as an immutable, indexed snapshot.

A decision then costs dictionary look-ups, not queries. Every change to the registry writes a
change event in the same transaction, so the highest change-event sequence is the registry's
version: before each decision the resolver compares it with its snapshot's (one indexed query
that the decision's own transaction makes anyway) and rebuilds when it moved.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select

from gateway.db import READ_ONLY
from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    Facts,
    PersonFact,
    RosterFact,
)
from models import (
    Assessment,
    Certification,
    ChangeEvent,
    Contract,
    ContractDesignation,
    Designation,
    Document,
    Person,
    RosterEntry,
)


@dataclass(frozen=True)
class RegistrySnapshot:
    version: int
    persons: dict[str, PersonFact] = field(default_factory=dict)
    documents: dict[str, DocumentFact] = field(default_factory=dict)
    designations: dict[str, DesignationFact] = field(default_factory=dict)
    assessments: dict[str, tuple[AssessmentFact, ...]] = field(default_factory=dict)  # by person
    certifications: dict[str, tuple[CertificationFact, ...]] = field(default_factory=dict)  # by operator
    contracts: dict[str, tuple[ContractFact, ...]] = field(default_factory=dict)  # by operator
    roster: dict[tuple[str, str], RosterFact] = field(default_factory=dict)  # (designation, person)

    def facts(self, person_id: str, document_id: str) -> Facts:
        person = self.persons.get(person_id)
        document = self.documents.get(document_id)
        designation = None
        if document is not None and document.designation_id is not None:
            designation = self.designations.get(document.designation_id)
        operator = person.operator_id if person is not None else None
        return Facts(
            person_id=person_id,
            document_id=document_id,
            person=person,
            document=document,
            designation=designation,
            assessments=self.assessments.get(person_id, ()),
            certifications=self.certifications.get(operator, ()) if operator else (),
            contracts=self.contracts.get(operator, ()) if operator else (),
            roster=self.roster.get((designation.id, person_id)) if designation is not None else None,
        )


def registry_version(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ChangeEvent.seq), 0))).scalar_one())


def load_snapshot(conn: Connection) -> RegistrySnapshot:
    """Read the whole registry in one transaction (one consistent view) into indexed records."""
    version = registry_version(conn)
    persons = {
        r.id: PersonFact(r.id, r.kind, r.organ_id, r.operator_id, r.department, r.office)
        for r in conn.execute(select(Person.__table__))  # type: ignore[attr-defined]
    }
    designations = {
        r.id: DesignationFact(r.id, r.organ_id, r.scheme, r.designated_on, r.expires_on, r.cancelled_on)
        for r in conn.execute(select(Designation.__table__))  # type: ignore[attr-defined]
    }
    documents = {
        r.id: DocumentFact(r.id, r.designation_id, r.media_type, r.size, r.sha256)
        for r in conn.execute(select(Document.__table__))  # type: ignore[attr-defined]
    }
    assessments: dict[str, list[AssessmentFact]] = defaultdict(list)
    for r in conn.execute(select(Assessment.__table__)):  # type: ignore[attr-defined]
        assessments[r.person_id].append(AssessmentFact(r.id, r.organ_id, r.scheme, r.result, r.notified_on, r.status))
    certifications: dict[str, list[CertificationFact]] = defaultdict(list)
    for r in conn.execute(select(Certification.__table__)):  # type: ignore[attr-defined]
        certifications[r.operator_id].append(CertificationFact(r.id, r.organ_id, r.certified_on, r.status))
    covered: dict[str, set[str]] = defaultdict(set)
    for r in conn.execute(select(ContractDesignation.__table__)):  # type: ignore[attr-defined]
        covered[r.contract_id].add(r.designation_id)
    contracts: dict[str, list[ContractFact]] = defaultdict(list)
    for r in conn.execute(select(Contract.__table__)):  # type: ignore[attr-defined]
        contracts[r.operator_id].append(
            ContractFact(r.id, r.organ_id, r.starts_on, r.ends_on, frozenset(covered[r.id]), frozenset(r.departments))
        )
    roster = {
        (r.designation_id, r.person_id): RosterFact(r.designation_id, r.person_id, r.valid_from, r.valid_until)
        for r in conn.execute(select(RosterEntry.__table__))  # type: ignore[attr-defined]
    }
    return RegistrySnapshot(
        version=version,
        persons=persons,
        documents=documents,
        designations=designations,
        assessments={k: tuple(v) for k, v in assessments.items()},
        certifications={k: tuple(v) for k, v in certifications.items()},
        contracts={k: tuple(v) for k, v in contracts.items()},
        roster=roster,
    )


class FactResolver:
    """Hands out the current snapshot; rebuilds it (once, under a lock) when the registry moved."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._snapshot = RegistrySnapshot(version=-1)
        self._lock = threading.Lock()
        self.rebuilds = 0

    def current(self) -> RegistrySnapshot:
        """The snapshot of the registry's latest version (one indexed read to learn it)."""
        with self._engine.connect().execution_options(**READ_ONLY) as conn:
            version = registry_version(conn)
        snapshot = self._snapshot
        if snapshot.version == version:
            return snapshot
        with self._lock:
            if self._snapshot.version != version:
                self._snapshot = self._rebuild()
                self.rebuilds += 1
            return self._snapshot

    def _rebuild(self) -> RegistrySnapshot:
        options = READ_ONLY if self._engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            return load_snapshot(conn)

    def invalidate(self) -> None:
        self._snapshot = RegistrySnapshot(version=-1)
