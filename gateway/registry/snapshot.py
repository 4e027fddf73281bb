"""The policy information point: the registry held in memory as an immutable, indexed snapshot.

A decision then costs dictionary look-ups, not queries. Every change to the registry writes a
change event in the same transaction, so the change chain's head is the registry's version. The
resolver (resolver.py) checks its snapshot against that version (one primary-key read) and patches
it (patching.py) or reads it whole (loading.py) when it moved. How often it checks is invalidation.py's
business: on every decision unless a LISTEN connection vouches for the cache, and in any case once
`max_age` seconds have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select
from sqlmodel import col

from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    Facts,
    PersonFact,
    ProvisionFact,
    RosterFact,
)
from gateway.registry.history import History
from models import (
    ChainHead,
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
    provisions: dict[str, tuple[ProvisionFact, ...]] = field(default_factory=dict)  # C5a, by designation
    history: History = field(default_factory=History)  # the facts of earlier instants (history.py)

    def changes_before(self, at: datetime | None) -> int:
        """How many recorded changes come before instant `at` (None: all of them): two instants with
        the same count have the same facts, so a decision's memo keys on it."""
        return self.history.cut(at)

    def facts(self, person_id: str, document_id: str, at: datetime | None = None) -> Facts:
        """The facts of (person, document) in force at instant `at` (None: now, today's registry)."""
        facts = self._facts(person_id, document_id)
        if at is None or self.history.cut(at) == len(self.history.instants):
            return facts
        return self.history.as_of(facts, at)

    def _facts(self, person_id: str, document_id: str) -> Facts:
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
            provisions=self.provisions.get(designation.id, ()) if designation is not None else (),
        )


VERSION_SQL = "SELECT chain_index FROM chain_heads WHERE chain = 'changes'"


def registry_version(conn: Connection) -> int:
    """The number of change events so far: the change chain's head, one primary-key read (no scan)."""
    version = conn.execute(select(col(ChainHead.chain_index)).where(col(ChainHead.chain) == "changes")).scalar()
    return int(version or 0)
