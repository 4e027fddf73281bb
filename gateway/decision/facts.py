"""The facts one decision rests on, as plain immutable records (the policy information point fills them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class PersonFact:
    id: str
    kind: str  # government | contractor
    organ_id: str | None = None
    operator_id: str | None = None
    department: str | None = None
    office: str | None = None


@dataclass(frozen=True, slots=True)
class AssessmentFact:
    id: str
    organ_id: str
    scheme: str
    result: str
    notified_on: date
    status: str = "active"


@dataclass(frozen=True, slots=True)
class CertificationFact:
    id: str
    organ_id: str
    certified_on: date
    status: str = "active"


@dataclass(frozen=True, slots=True)
class DesignationFact:
    id: str
    organ_id: str
    scheme: str
    designated_on: date
    expires_on: date
    cancelled_on: date | None = None

    def is_in_force(self, on: date) -> bool:
        """D3: from designated_on through expires_on, unless cancelled (effective on its date)."""
        if self.cancelled_on is not None and self.cancelled_on <= on:
            return False
        return self.designated_on <= on <= self.expires_on


@dataclass(frozen=True, slots=True)
class ContractFact:
    id: str
    organ_id: str
    starts_on: date
    ends_on: date
    designation_ids: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()

    def is_in_force(self, on: date) -> bool:
        return self.starts_on <= on <= self.ends_on


@dataclass(frozen=True, slots=True)
class RosterFact:
    designation_id: str
    person_id: str
    valid_from: date
    valid_until: date | None = None

    def is_in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)


@dataclass(frozen=True, slots=True)
class DocumentFact:
    id: str
    designation_id: str | None
    media_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the registry knows that bears on (person, document); None where nothing is known."""

    person_id: str
    document_id: str
    person: PersonFact | None = None
    document: DocumentFact | None = None
    designation: DesignationFact | None = None
    assessments: tuple[AssessmentFact, ...] = ()
    certifications: tuple[CertificationFact, ...] = ()
    contracts: tuple[ContractFact, ...] = ()
    roster: RosterFact | None = None
    extra: dict[str, Any] = field(default_factory=dict)
