"""Per-request attribute objects for the naive model, built from the registry's facts.

This is the policy information point a straightforward Casbin integration would write: gather the
raw values the rules in policy.csv test, as plain objects, for every request. It is written apart
from gateway/decision/engine.py on purpose, so that agreeing with the decision core means something.
Only what a Casbin expression cannot do in one step is done here: pick the most recent assessment
per scheme (C4), turn its notification day into a last valid day (C3), and list the certifications
and contracts in force. Every comparison with the rule's requirements is left to Casbin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.decision.calendar import validity_ends_on
from gateway.decision.facts import AssessmentFact, Facts

# C3, as policy/policy.csv says today (p2 rows): years of validity per scheme, Civil Code reading.
VALIDITY_YEARS = {"esi": 10, "sds": 5}
NEVER = date.max.toordinal()  # "no such day": a window that never opens, or never closes
# C4: on the same day an unfavourable result, then the stricter status, counts as the more recent.
_SAME_DAY_ORDER = {
    ("unfavourable", "revoked"): 0, ("unfavourable", "suspended"): 1, ("unfavourable", "active"): 2,
    ("favourable", "revoked"): 3, ("favourable", "suspended"): 4, ("favourable", "active"): 5,
}


@dataclass(slots=True)
class Subject:
    known: bool
    kind: str
    organ: str
    office: str
    esi_result: str
    esi_status: str
    esi_through: int
    sds_result: str
    sds_status: str
    sds_through: int
    certified_by: frozenset[str]
    contracted: frozenset[str]
    roster_from: int
    roster_until: int


@dataclass(slots=True)
class Resource:
    known: bool
    classified: bool
    designation: str
    organ: str
    tier: str
    designated_on: int
    expires_on: int
    cancelled_on: int


@dataclass(slots=True)
class Environment:
    today: int


def resource(facts: Facts) -> Resource:
    document, designation = facts.document, facts.designation
    if document is None:
        return Resource(False, False, "", "", "", NEVER, 0, 0)
    if document.designation_id is None:
        return Resource(True, False, "", "", "unclassified", NEVER, 0, 0)
    if designation is None:  # a dangling reference: classified, never in force
        return Resource(True, True, document.designation_id, "", "esi", NEVER, 0, 0)
    cancelled = designation.cancelled_on.toordinal() if designation.cancelled_on else NEVER
    return Resource(True, True, designation.id, designation.organ_id, designation.scheme,
                    designation.designated_on.toordinal(), designation.expires_on.toordinal(), cancelled)


def subject(facts: Facts, today: date) -> Subject:
    person, designation = facts.person, facts.designation
    if person is None:
        return Subject(False, "", "", "", "", "", 0, "", "", 0, frozenset(), frozenset(), NEVER, 0)
    organ = designation.organ_id if designation else ""
    latest = _latest(facts.assessments, organ, today)
    esi, sds = latest.get("esi"), latest.get("sds")
    roster = facts.roster
    if roster is None:
        roster_from, roster_until = NEVER, 0
    else:
        roster_from = roster.valid_from.toordinal()
        roster_until = roster.valid_until.toordinal() if roster.valid_until else NEVER
    return Subject(
        known=True,
        kind=person.kind,
        organ=person.organ_id or "",
        office=person.office or "",
        esi_result=esi.result if esi else "",
        esi_status=esi.status if esi else "",
        esi_through=_through(esi),
        sds_result=sds.result if sds else "",
        sds_status=sds.status if sds else "",
        sds_through=_through(sds),
        certified_by=frozenset(c.organ_id for c in facts.certifications
                               if c.status == "active" and c.certified_on <= today),
        contracted=frozenset(f"{organ}/{designation}" for organ, designation in contracted_pairs(facts, today)),
        roster_from=roster_from,
        roster_until=roster_until,
    )


def contracted_pairs(facts: Facts, today: date) -> frozenset[tuple[str, str]]:
    """(organ, designation) for every designation listed by a contract in force that names the person's
    department (B1, B2); empty for a person the registry does not know."""
    person = facts.person
    if person is None:
        return frozenset()
    return frozenset((k.organ_id, d) for k in facts.contracts
                     if k.is_in_force(today) and person.department in k.departments for d in k.designation_ids)


def _latest(assessments: tuple[AssessmentFact, ...], organ: str, today: date) -> dict[str, AssessmentFact]:
    """The most recent assessment by `organ` under each scheme, among those notified by `today`."""
    ordered = sorted((a for a in assessments if a.organ_id == organ and a.notified_on <= today),
                     key=lambda a: (a.notified_on, -_SAME_DAY_ORDER.get((a.result, a.status), 0)))
    return {a.scheme: a for a in ordered}  # later entries overwrite earlier ones


def _through(record: AssessmentFact | None) -> int:
    if record is None:
        return 0
    return validity_ends_on(record.notified_on, VALIDITY_YEARS[record.scheme]).toordinal()
