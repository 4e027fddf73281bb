"""When a decision will change: the days on which one pair's facts start or stop holding.

Every fact the engine reads holds over whole days: a designation from `designated_on` through
`expires_on` (or until `cancelled_on`), a clearance from its notification through the last day of its
validity (C3), a contract, a certification, a roster entry or a provision over its own period. So a
decision made on today's facts can only change on a day one of those periods starts, or the day after
one ends. An access review decides each of those days in the window, in order, and reports the first
one that denies: who loses access, on which day, and why. Nothing else moves a decision but a change
to the registry or the policy, which is made when it is made and cannot be foreseen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.decision.calendar import validity_ends_on
from gateway.decision.engine import Decision, decide
from gateway.decision.facts import Facts
from gateway.decision.policy import NO_CONTEXT, Policy
from gateway.decision.policy_context import RequestContext

# What a denial's codes say is ending, in the words of an access review.
CAUSES = {
    "clearance_missing": "clearance",
    "clearance_expired": "clearance",
    "clearance_suspended": "clearance",
    "clearance_revoked": "clearance",
    "clearance_insufficient": "clearance",
    "employer_not_certified": "certification",
    "contract_not_in_force": "contract",
    "not_on_roster": "roster",
    "designation_not_in_force": "designation",
}


@dataclass(frozen=True, slots=True)
class Loss:
    """The first day in the window on which the pair is denied, and the denial of that day."""

    on: date
    decision: Decision

    @property
    def causes(self) -> list[str]:
        return sorted({CAUSES.get(code, "policy") for code in self.decision.codes})


def change_days(facts: Facts, policy: Policy) -> set[date]:
    """Every day on which one of the pair's facts starts to hold, or stops (the day after its last)."""
    days: set[date] = set()

    def period(start: date | None, last: date | None) -> None:
        if start is not None:
            days.add(start)
        if last is not None and last < date.max:
            days.add(last + timedelta(days=1))

    if facts.designation is not None:
        d = facts.designation
        period(d.designated_on, d.expires_on)
        period(d.cancelled_on, d.cancelled_on)
    for a in facts.assessments:
        validity = policy.validity.get(a.scheme)
        period(a.notified_on, validity_ends_on(a.notified_on, validity.years, validity.reading) if validity else None)
    for c in facts.certifications:
        period(c.certified_on, None)
    for k in facts.contracts:
        period(k.starts_on, k.ends_on)
    if facts.roster is not None:
        for start, until in ((facts.roster.valid_from, facts.roster.valid_until), *facts.roster.earlier):
            period(start, until)
    for p in facts.provisions:
        period(p.valid_from, p.valid_until)
    return days


def first_loss(
    facts: Facts,
    action: str,
    today: date,
    last: date,
    policy: Policy,
    ctx: RequestContext = NO_CONTEXT,
    days: Iterable[date] | None = None,
) -> Loss | None:
    """The first day after `today`, through `last`, on which the pair is denied; None if it keeps access."""
    for day in sorted(d for d in (change_days(facts, policy) if days is None else days) if today < d <= last):
        decision = decide(facts, action, day, policy, ctx)
        if not decision.allowed:
            return Loss(day, decision)
    return None
