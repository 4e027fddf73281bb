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
    """N1: a person's roster entry for a designation: its latest period, and any earlier periods
    (a removal ends a period; a later addition starts another), oldest first."""

    designation_id: str
    person_id: str
    valid_from: date
    valid_until: date | None = None
    earlier: tuple[tuple[date, date | None], ...] = ()

    def is_in_force(self, on: date) -> bool:
        if self.valid_from <= on and (self.valid_until is None or on <= self.valid_until):
            return True
        return any(start <= on and (until is None or on <= until) for start, until in self.earlier)


@dataclass(frozen=True, slots=True)
class ProvisionFact:
    """C5a: a designation's information provided by its organ to another organ, from a day until a
    day (inclusive; open-ended when None)."""

    designation_id: str
    organ_id: str
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
    provisions: tuple[ProvisionFact, ...] = ()  # C5a: every provision period of the designation
    extra: dict[str, Any] = field(default_factory=dict)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def facts_record(facts: Facts) -> dict[str, Any]:
    """The facts a decision rested on, as plain JSON, so that it can be replayed under another policy.

    Only what the decision could use is kept: assessments by the organs that matter (the person's and
    the designating organ), the operator's certifications and contracts with the designating organ.
    C9: this holds scheme, organ, result, dates and status only; it is shown to administrators only.
    """
    person, document, designation = facts.person, facts.document, facts.designation
    organs = {o for o in (person.organ_id if person else None, designation.organ_id if designation else None) if o}
    record = {
        "person": [person.id, person.kind, person.organ_id, person.operator_id, person.department, person.office]
        if person
        else None,
        "document": [document.id, document.designation_id] if document else None,
        "designation": [
            designation.id,
            designation.organ_id,
            designation.scheme,
            _day(designation.designated_on),
            _day(designation.expires_on),
            _day(designation.cancelled_on),
        ]
        if designation
        else None,
        "assessments": [
            [a.id, a.organ_id, a.scheme, a.result, _day(a.notified_on), a.status]
            for a in facts.assessments
            if a.organ_id in organs
        ],
        "certifications": [
            [c.id, c.organ_id, _day(c.certified_on), c.status] for c in facts.certifications if c.organ_id in organs
        ],
        "contracts": [
            [k.id, k.organ_id, _day(k.starts_on), _day(k.ends_on), sorted(k.designation_ids), sorted(k.departments)]
            for k in facts.contracts
            if k.organ_id in organs
        ],
        "roster": _roster_record(facts.roster) if facts.roster else None,
    }
    if facts.provisions:  # C5a: only present where the designation was provided, so older rows read alike
        record["provisions"] = [
            [v.organ_id, _day(v.valid_from), _day(v.valid_until)] for v in facts.provisions if v.organ_id in organs
        ]
    return record


def _roster_record(roster: RosterFact) -> list[Any]:
    record: list[Any] = [roster.designation_id, roster.person_id, _day(roster.valid_from), _day(roster.valid_until)]
    if roster.earlier:
        record.append([[_day(start), _day(until)] for start, until in roster.earlier])
    return record


def _roster_fact(record: list[Any]) -> RosterFact:
    earlier = tuple((_date(start), _date(until)) for start, until in record[4]) if len(record) > 4 else ()
    return RosterFact(record[0], record[1], _date(record[2]), _date(record[3]), earlier)  # type: ignore[arg-type]


def facts_from_record(person_id: str, document_id: str, record: dict[str, Any]) -> Facts:
    """The inverse of `facts_record`."""
    p, doc, d, roster = record.get("person"), record.get("document"), record.get("designation"), record.get("roster")
    return Facts(
        person_id=person_id,
        document_id=document_id,
        person=PersonFact(*p) if p else None,
        document=DocumentFact(doc[0], doc[1]) if doc else None,
        designation=DesignationFact(d[0], d[1], d[2], _date(d[3]), _date(d[4]), _date(d[5])) if d else None,  # type: ignore[arg-type]
        assessments=tuple(
            AssessmentFact(i, o, s, r, _date(n), st)  # type: ignore[arg-type]
            for i, o, s, r, n, st in record.get("assessments", [])
        ),
        certifications=tuple(
            CertificationFact(i, o, _date(c), st)  # type: ignore[arg-type]
            for i, o, c, st in record.get("certifications", [])
        ),
        contracts=tuple(
            ContractFact(i, o, _date(s), _date(e), frozenset(ds), frozenset(deps))  # type: ignore[arg-type]
            for i, o, s, e, ds, deps in record.get("contracts", [])
        ),
        roster=_roster_fact(roster) if roster else None,
        provisions=tuple(
            ProvisionFact(d[0], organ, _date(start), _date(until))  # type: ignore[arg-type]
            for organ, start, until in record.get("provisions", [])
        )
        if d
        else (),
    )
