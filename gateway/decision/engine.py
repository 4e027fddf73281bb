"""Decide one request: classify the facts into flat attributes, ask the policy, explain the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.decision.calendar import validity_ends_on
from gateway.decision.facts import AssessmentFact, Facts, PersonFact, ProvisionFact
from gateway.decision.policy import NO_CONTEXT, UNKNOWN_SUBJECT, ObjectAttributes, Policy, SubjectAttributes
from gateway.decision.policy_clearance import ADVERSE, DEFAULT_CONFLICT
from gateway.decision.policy_context import RequestContext
from gateway.decision.reasons import DEFAULT_MESSAGES, TIER_NAMES, Reason
from models.identifiers import clip_id
from models.vocabulary import Result, Status

# C4: on the same notification day the stricter record wins (fail closed).
_STRICTNESS = {Status.REVOKED: 0, Status.SUSPENDED: 1, Status.ACTIVE: 2}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    facts_used: dict[str, Any] = field(default_factory=dict)
    reason_dicts: list[dict[str, str]] = field(default_factory=list)  # as answered and logged (read-only)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def basis(self) -> dict[str, Any]:
        """What an allow rested on: the same fact ids the log keeps (C9: the assessment by id only)."""
        if not self.allowed:
            return {}
        return dict(self.facts_used) or {"designation": None}  # an unclassified document needs nothing


@dataclass(slots=True)
class _Clearance:
    """The clearance picture of one person for one document, kept for explanations and the log."""

    competent_organ: str | None = None
    states: dict[str, tuple[str, AssessmentFact]] = field(default_factory=dict)  # scheme -> (state, record)
    certification: str | None = None  # B1: the certification in force found, if any
    contract: str | None = None  # B1, B2: the covering contract in force found, if any
    provision: ProvisionFact | None = None  # C5a: the provision to the person's organ in force, if any
    standing: dict[str, tuple[str, AssessmentFact]] = field(default_factory=dict)  # adverse results that stand


def decide(
    facts: Facts,
    action: str,
    today: date,
    policy: Policy,
    ctx: RequestContext = NO_CONTEXT,
    *,
    memo_only: bool = False,
) -> Decision:
    """The whole decision for one (person, document, action) on one calendar day, in a request
    context (memo_only: see Policy.evaluate)."""
    sub, obj, clearance = classify(facts, today, policy)
    allowed, codes = policy.evaluate(sub, obj, action, ctx, memo_only=memo_only)
    used = _facts_used(facts, clearance, sub)
    if allowed:
        return Decision(True, (), used)
    reasons = tuple(Reason(code, _message(code, facts, action, today, policy, clearance)) for code in codes)
    return Decision(False, reasons, used, [r.as_dict() for r in reasons])


def classify(facts: Facts, today: date, policy: Policy) -> tuple[SubjectAttributes, ObjectAttributes, _Clearance]:
    person, document, designation = facts.person, facts.document, facts.designation
    classified = document is not None and document.designation_id is not None
    tier = "" if document is None else (designation.scheme if designation else "unclassified")
    if classified and designation is None:
        tier = "esi"  # a dangling designation reference: treat as classified and not in force
    obj = ObjectAttributes(
        known=document is not None,
        classified=classified,
        tier=tier,
        in_force=designation is not None and designation.is_in_force(today),
    )
    clearance = _Clearance()
    if person is None:
        return UNKNOWN_SUBJECT, obj, clearance

    designating = designation.organ_id if designation else None
    # C5: the competent organ is the organ served (staff) or the providing, designating organ (contractor).
    clearance.competent_organ = person.organ_id if person.kind == "government" else designating
    clearance.provision = _provision(facts, clearance.competent_organ, today)
    opens_here = clearance.competent_organ == designating or clearance.provision is not None
    if designating is not None and opens_here:
        # C5a: staff of an organ the designation is provided to are assessed by their own organ.
        for scheme, record in _latest_by_scheme(facts.assessments, clearance.competent_organ, today).items():
            clearance.states[scheme] = (_state(record, today, policy), record)

    opening = policy.opens.get(tier, frozenset())
    fitting = {state for scheme, (state, _) in clearance.states.items() if scheme in opening}
    clearance.standing = _adverse_standing(clearance, tier, opening, policy)
    if clearance.standing:  # C4, C6, C7: an adverse latest result stands; a valid one elsewhere never outweighs it
        fitting = {state for state, _ in clearance.standing.values()}
    cleared = "valid" in fitting
    contractor = person.kind == "contractor"
    if contractor and designating is not None:
        cert = _certification(facts, designating, today)
        contract = _contract(facts, today)
        clearance.certification = cert.id if cert else None
        clearance.contract = contract.id if contract else None
    sub = SubjectAttributes(
        known=True,
        kind=person.kind,
        exempt=_exempt(person, designating, clearance, tier, policy),
        cleared=cleared,
        clearance_expired=not cleared and "expired" in fitting,
        clearance_suspended=not cleared and Status.SUSPENDED in fitting,
        clearance_revoked=not cleared and Status.REVOKED in fitting,
        clearance_insufficient=not cleared
        and any(state == "valid" for scheme, (state, _) in clearance.states.items() if scheme not in opening),
        certified=clearance.certification is not None,
        contracted=clearance.contract is not None,
        on_roster=facts.roster is not None and facts.roster.is_in_force(today),
    )
    return sub, obj, clearance


def _exempt(person: PersonFact, designating: str | None, clearance: _Clearance, tier: str, policy: Policy) -> bool:
    """C8: an exempt office holds for the information of the organ it belongs to and what is provided
    to that organ (C5a), or of the organ an `exempt` row names, under the tiers the row names."""
    if person.office is None or designating is None:
        return False
    own = person.kind == "government" and (person.organ_id == designating or clearance.provision is not None)
    return any(e.covers(person.office, own, designating, tier) for e in policy.exemptions)


def _adverse_standing(
    clearance: _Clearance, tier: str, opening: frozenset[str], policy: Policy
) -> dict[str, tuple[str, AssessmentFact]]:
    """C4, C6, C7: the adverse latest results (unfavourable, suspended, revoked) that deny the tier
    whatever a valid clearance under another scheme says: every opening scheme's (`strictest`, the
    default), or the tier's own scheme's only (`own_result_stands`), by the policy's conflict row.
    Empty when no valid clearance is outweighed, so that a denial keeps its usual reasons."""
    rule = policy.conflicts.get(tier, DEFAULT_CONFLICT)
    relevant = {s: v for s, v in clearance.states.items() if s in opening}
    if not any(state == "valid" for state, _ in relevant.values()):
        return {}
    return {s: v for s, v in relevant.items() if v[0] in ADVERSE and (rule == DEFAULT_CONFLICT or s == tier)}


def _latest_by_scheme(
    assessments: tuple[AssessmentFact, ...], organ: str | None, today: date
) -> dict[str, AssessmentFact]:
    """C4: only the most recent assessment by the organ under each scheme counts (as known on `today`)."""
    latest: dict[str, AssessmentFact] = {}
    for record in assessments:
        if record.organ_id != organ or record.notified_on > today:
            continue
        current = latest.get(record.scheme)
        if current is None or recency(record) > recency(current):
            latest[record.scheme] = record
    return latest


def recency(record: Any) -> tuple[date, int, int]:
    """C4's order of one organ's assessments of a person under one scheme (the greatest counts): the
    latest notified; on one day an unfavourable result before a favourable one, then the stricter
    status (revoked, suspended, active; a status it does not know counts as the strictest). The
    decision engine and the registry's expiry report both order by this."""
    return (record.notified_on, -int(record.result == Result.FAVOURABLE), -_STRICTNESS.get(record.status, 0))


def _state(record: AssessmentFact, today: date, policy: Policy) -> str:
    """C2, C3, C7: unfavourable, revoked, suspended, expired or valid."""
    if record.result != Result.FAVOURABLE:
        return "unfavourable"
    if record.status == Status.REVOKED:
        return "revoked"
    if record.status == Status.SUSPENDED:
        return "suspended"
    validity = policy.validity[record.scheme]
    if today > validity_ends_on(record.notified_on, validity.years, validity.reading):
        return "expired"
    return "valid"


def _provision(facts: Facts, organ: str | None, today: date) -> ProvisionFact | None:
    """C5a: the provision of the document's designation to `organ` in force on `today`, if any
    (never one to the designating organ itself, which needs none)."""
    designation = facts.designation
    if organ is None or designation is None or organ == designation.organ_id:
        return None
    for provision in facts.provisions:
        if provision.organ_id == organ and provision.designation_id == designation.id and provision.is_in_force(today):
            return provision
    return None


def _certification(facts: Facts, organ: str, today: date):
    for cert in facts.certifications:
        if cert.organ_id == organ and cert.status == Status.ACTIVE and cert.certified_on <= today:
            return cert
    return None


def _contract(facts: Facts, today: date):
    """B1, B2: a contract with the designating organ, in force, listing the designation and department."""
    designation, person = facts.designation, facts.person
    assert designation is not None and person is not None
    for contract in facts.contracts:
        if (
            contract.organ_id == designation.organ_id
            and contract.is_in_force(today)
            and designation.id in contract.designation_ids
            and person.department in contract.departments
        ):
            return contract
    return None


def _facts_used(facts: Facts, clearance: _Clearance, sub: SubjectAttributes) -> dict[str, Any]:
    """R1: the ids of the facts the decision rested on (C9: the clearance by id, never its content)."""
    used: dict[str, Any] = {}
    if facts.designation is not None:
        used["designation"] = facts.designation.id
    if clearance.states:
        chosen = next((rec for state, rec in clearance.states.values() if state == "valid"), None)
        chosen = chosen or next(iter(clearance.states.values()))[1]
        used["clearance"] = chosen.id
    if clearance.provision is not None:
        used["provision"] = f"{clearance.provision.designation_id}/{clearance.provision.organ_id}"
    if sub.exempt and facts.person is not None:
        used["exempt_office"] = facts.person.office
    if clearance.certification is not None:
        used["certification"] = clearance.certification
    if clearance.contract is not None:
        used["contract"] = clearance.contract
    if facts.roster is not None:
        used["roster"] = f"{facts.roster.designation_id}/{facts.roster.person_id}"
    return used


def _message(code: str, facts: Facts, action: str, today: date, policy: Policy, clearance: _Clearance) -> str:
    """An explanation must never cost the decision: fall back to what the code means."""
    if code in policy.local_reasons:
        return policy.local_reasons[code].message
    try:
        return explain(code, facts, action, today, policy, clearance)
    except Exception:
        return DEFAULT_MESSAGES.get(code, code)


def explain(code: str, facts: Facts, action: str, today: date, policy: Policy, clearance: _Clearance) -> str:
    """A message an administrator understands, naming the facts behind the code."""
    person, designation = facts.person, facts.designation
    pid, did = clip_id(facts.person_id), clip_id(facts.document_id)  # a message never grows with a caller's id
    if code == "subject_unknown":
        if "/" in facts.person_id:  # an entity of another type (the AuthZEN route names it type/id)
            return f"The subject is a {pid.split('/', 1)[0]!r}: this gateway decides for persons only"
        return f"No person with id {pid!r} is in the registry"
    if code == "document_unknown":
        if "/" in facts.document_id:
            return f"The resource is a {did.split('/', 1)[0]!r}: this gateway decides about documents only"
        return f"No document with id {did!r} is in the registry"
    if code == "action_not_permitted":
        kind = person.kind if person else "unknown"
        return f"The policy grants the action {clip_id(action)!r} to no {kind} person"
    if code == "designation_not_in_force":
        return _explain_designation(facts, today)
    if person is None or designation is None:  # only an edited policy can ask this: say what the code means
        return DEFAULT_MESSAGES[code]
    tier = TIER_NAMES.get(designation.scheme, designation.scheme)
    organ = designation.organ_id
    if code == "clearance_missing":
        if clearance.competent_organ != organ and clearance.provision is None:
            served = clearance.competent_organ or "no organ"
            return (
                f"{pid} serves {served}; clearances are per organ (C5) and only an assessment by {organ} "
                f"opens {organ}'s information, unless {organ} has provided designation {designation.id} "
                f"to {served} (C5a)"
            )
        if clearance.standing:
            return _explain_standing(clearance, designation.scheme, policy)
        schemes = " or ".join(TIER_NAMES[s] for s in sorted(policy.opens.get(designation.scheme, ())))
        schemes = schemes or "any scheme"
        assessor = clearance.competent_organ if clearance.provision is not None else organ
        provided = f" (provided by {organ}, C5a)" if clearance.provision is not None else ""
        return (
            f"{pid} has no favourable assessment by {assessor} under {schemes}, which {tier} "
            f"information{provided} needs"
        )
    if code in ("clearance_expired", "clearance_suspended", "clearance_revoked"):
        state = code.removeprefix("clearance_")
        lines = []
        for scheme, (s, record) in sorted(clearance.states.items()):
            if s != state or scheme not in policy.opens.get(designation.scheme, ()):
                continue
            label = f"{TIER_NAMES[scheme]} assessment {record.id} by {record.organ_id}"
            if state == "expired":
                v = policy.validity[scheme]
                ends = validity_ends_on(record.notified_on, v.years, v.reading)
                lines.append(f"{label} notified {record.notified_on} ran out on {ends}")
            elif state == "suspended":
                lines.append(f"{label} is suspended pending re-assessment (C7)")
            else:
                lines.append(f"{label} was revoked (C7)")
        if clearance.standing:
            lines.append(_outweighs(clearance, designation.scheme, policy))
        return "; ".join(lines)
    if code == "clearance_insufficient":
        held = sorted(TIER_NAMES[s] for s, (state, _) in clearance.states.items() if state == "valid")
        assessor = clearance.competent_organ if clearance.provision is not None else organ
        return (
            f"{pid} holds a valid {' and '.join(held)} clearance by {assessor}, which does not open {tier} information"
        )
    if code == "employer_not_certified":
        return f"Operator {person.operator_id} has no certification in force from {organ} (B1, B3)"
    if code == "contract_not_in_force":
        return (
            f"No contract in force between {person.operator_id} and {organ} covers designation {designation.id} "
            f"for department {person.department!r} on {today} (B1, B2)"
        )
    if code == "not_on_roster":
        roster = facts.roster
        if roster is None:
            return f"{pid} is not on the handler roster for designation {designation.id} (N1)"
        window = f"from {roster.valid_from}" + (f" until {roster.valid_until}" if roster.valid_until else "")
        return f"{pid}'s roster entry for designation {designation.id} runs {window}, not on {today} (N1)"
    return code


def _explain_standing(clearance: _Clearance, tier: str, policy: Policy) -> str:
    """clearance_missing where an unfavourable latest result stands against a valid clearance."""
    lines = [
        f"the latest {TIER_NAMES[scheme]} assessment {record.id} by {record.organ_id} is unfavourable (C4)"
        for scheme, (state, record) in sorted(clearance.standing.items())
        if state == "unfavourable"
    ]
    return "; ".join([*lines, _outweighs(clearance, tier, policy)])


def _outweighs(clearance: _Clearance, tier: str, policy: Policy) -> str:
    valid = sorted(
        f"{TIER_NAMES[s]} assessment {r.id}" for s, (state, r) in clearance.states.items() if state == "valid"
    )
    rule = policy.conflicts.get(tier, DEFAULT_CONFLICT)
    return f"the valid {' and '.join(valid)} does not stand in for it (C6; policy: conflict, {tier}, {rule})"


def _explain_designation(facts: Facts, today: date) -> str:
    designation = facts.designation
    if designation is None:
        return f"Document {clip_id(facts.document_id)} names a designation the registry does not hold"
    tier = TIER_NAMES.get(designation.scheme, designation.scheme)
    label = f"Designation {designation.id} ({tier}, {designation.organ_id})"
    if designation.cancelled_on is not None and designation.cancelled_on <= today:
        return f"{label} was cancelled with effect from {designation.cancelled_on} (D3)"
    if today < designation.designated_on:
        return f"{label} is in force only from {designation.designated_on} (D3)"
    return f"{label} expired after {designation.expires_on} (D3)"
