"""The facts one decision rests on, as plain immutable records (the policy information point fills them)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, TypeVar

from models.vocabulary import Status


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
    status: str = Status.ACTIVE


@dataclass(frozen=True, slots=True)
class CertificationFact:
    id: str
    organ_id: str
    certified_on: date
    status: str = Status.ACTIVE


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


INPUTS_VERSION = 2  # of `facts_record`'s shape; 1: positional arrays (rows logged before it), still read


def _named(fact: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A fact as a JSON object of its fields, by name: days as ISO text, sets as sorted lists."""
    out: dict[str, Any] = {}
    for f in fields(fact):
        if f.name in leave_out:
            continue
        value = getattr(fact, f.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        out[f.name] = value
    return out


def _fact(kind: type[T], named: dict[str, Any], **given: Any) -> T:
    """The inverse of `_named`: a fact from its fields by name (the days parsed back, the sets rebuilt)."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.name in named:
            value = named[f.name]
            if f.name in _DAYS:
                value = _date(value)
            elif f.name in _SETS:
                value = frozenset(value)
            values[f.name] = value
    return kind(**values)


_DAYS = {"designated_on", "expires_on", "cancelled_on", "notified_on", "certified_on", "starts_on", "ends_on",
         "valid_from", "valid_until"}  # fmt: skip
_SETS = {"designation_ids", "departments"}
T = TypeVar("T")


def facts_record(facts: Facts) -> dict[str, Any]:
    """The facts a decision rested on, as plain JSON (each fact by its fields' names, with the shape's
    version), so that it can be replayed under another policy.

    Only what the decision could use is kept: assessments by the organs that matter (the person's and
    the designating organ), the operator's certifications and contracts with the designating organ.
    C9: this holds scheme, organ, result, dates and status only; it is shown to administrators only.
    """
    person, document, designation = facts.person, facts.document, facts.designation
    organs = {o for o in (person.organ_id if person else None, designation.organ_id if designation else None) if o}
    record: dict[str, Any] = {
        "inputs_version": INPUTS_VERSION,
        "person": _named(person) if person else None,
        "document": {"id": document.id, "designation_id": document.designation_id} if document else None,
        "designation": _named(designation) if designation else None,
        "assessments": [_named(a) for a in facts.assessments if a.organ_id in organs],
        "certifications": [_named(c) for c in facts.certifications if c.organ_id in organs],
        "contracts": [_named(k) for k in facts.contracts if k.organ_id in organs],
        "roster": _roster_named(facts.roster) if facts.roster else None,
    }
    if facts.provisions:  # C5a: only present where the designation was provided
        record["provisions"] = [
            _named(v, leave_out=("designation_id",)) for v in facts.provisions if v.organ_id in organs
        ]
    return record


def _roster_named(roster: RosterFact) -> dict[str, Any]:
    named = _named(roster, leave_out=("earlier",))
    named["earlier"] = [[_day(start), _day(until)] for start, until in roster.earlier]
    return named


def facts_from_record(person_id: str, document_id: str, record: dict[str, Any]) -> Facts:
    """The inverse of `facts_record`, for every version of its shape."""
    if record.get("inputs_version", 1) == 1:
        return _facts_from_positional(person_id, document_id, record)
    p, doc, d, roster = record.get("person"), record.get("document"), record.get("designation"), record.get("roster")
    designation = _fact(DesignationFact, d) if d else None
    return Facts(
        person_id=person_id,
        document_id=document_id,
        person=_fact(PersonFact, p) if p else None,
        document=DocumentFact(doc["id"], doc["designation_id"]) if doc else None,
        designation=designation,
        assessments=tuple(_fact(AssessmentFact, a) for a in record.get("assessments", [])),
        certifications=tuple(_fact(CertificationFact, c) for c in record.get("certifications", [])),
        contracts=tuple(_fact(ContractFact, k) for k in record.get("contracts", [])),
        roster=_fact(RosterFact, roster, earlier=tuple((_date(a), _date(b)) for a, b in roster.get("earlier", [])))
        if roster
        else None,
        provisions=tuple(_fact(ProvisionFact, v, designation_id=designation.id) for v in record.get("provisions", []))
        if designation
        else (),
    )


# --- version 1: positional arrays, in the fields' order of the day (decisions logged before version 2) ---


def _roster_fact(record: list[Any]) -> RosterFact:
    earlier = tuple((_date(start), _date(until)) for start, until in record[4]) if len(record) > 4 else ()
    return RosterFact(record[0], record[1], _date(record[2]), _date(record[3]), earlier)  # type: ignore[arg-type]


def _facts_from_positional(person_id: str, document_id: str, record: dict[str, Any]) -> Facts:
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
