"""Access reviews: who may read a designation's documents, who on its roster may not and why, who
loses access within N days and why; and what one person may read.

For administrators and auditors (an organ's managers review who handles each designation; an
investigation asks who could have read it on a past day). Every line is a decision of the engine on
the facts at the instant asked about (the registry as it stood then, for a past instant): the people
who may read are exactly those an evaluation allows, found as a subject search finds them
(search.Finder). A loss ahead is found by deciding each day in the window on which one of the pair's
facts starts or ends (horizon.py), so the day and the reasons are those an evaluation on that day
will give, unless the registry or the policy changes before then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from gateway.decision.calendar import local_day
from gateway.decision.engine import Decision, decide
from gateway.decision.facts import DesignationFact, DocumentFact, Facts
from gateway.decision.horizon import Loss, first_loss
from gateway.decision.policy import Policy
from gateway.decision.policy_context import request_context
from gateway.decision.reach import roster_bound
from gateway.decision.reasons import without_assessment_details
from gateway.registry.snapshot import RegistrySnapshot
from gateway.search import Finder

ACTION = "read"
MAX_WINDOW_DAYS = 3660  # ten years ahead at most


class NotFound(LookupError):
    """No such designation, document or person in the registry."""


@dataclass(frozen=True)
class Line:
    """One person's standing towards one designation (a review), or one designation's towards one
    person (what a person may read)."""

    person_id: str
    designation_id: str | None  # None: the unclassified documents
    decision: Decision
    roster: str  # the roster period in force on the day, or "" when not on it
    documents: int  # documents under the designation (what a person may read)
    loss: Loss | None = None

    def as_dict(self, administrator: bool) -> dict[str, Any]:
        """C9: an assessment's details only to an administrator (ids stay: the basis names them)."""

        def reasons(decision: Decision) -> list[dict[str, str]]:
            shown = decision.reason_dicts
            return shown if administrator else without_assessment_details(shown)

        out: dict[str, Any] = {
            "person": self.person_id,
            "designation": self.designation_id,
            "may_read": self.decision.allowed,
            "reasons": reasons(self.decision),
            "basis": self.decision.basis,
            "roster": self.roster,
            "documents": self.documents,
        }
        out["loses_access_on"] = self.loss.on.isoformat() if self.loss else None
        out["loses_access_because"] = reasons(self.loss.decision) if self.loss else []
        out["loss_causes"] = self.loss.causes if self.loss else []
        return out


@dataclass(frozen=True)
class Review:
    """A designation's review at one instant, with the losses of the next `within_days` days."""

    designation: DesignationFact | None
    designation_id: str
    document_id: str | None  # when the review was asked for a document
    at: datetime
    day: date
    within_days: int
    may_read: list[Line] = field(default_factory=list)
    may_not: list[Line] = field(default_factory=list)  # on the roster on the day, and denied

    @property
    def losing(self) -> list[Line]:
        return sorted((line for line in self.may_read if line.loss), key=lambda line: (line.loss.on, line.person_id))  # type: ignore[union-attr]

    def as_dict(self, administrator: bool) -> dict[str, Any]:
        d = self.designation
        return {
            "designation": self.designation_id,
            "document": self.document_id,
            "organ": d.organ_id if d else None,
            "scheme": d.scheme if d else None,
            "in_force": bool(d and d.is_in_force(self.day)),
            "at": self.at.isoformat(),
            "day": self.day.isoformat(),
            "within_days": self.within_days,
            "counts": {"may_read": len(self.may_read), "may_not": len(self.may_not), "losing": len(self.losing)},
            "may_read": [line.as_dict(administrator) for line in self.may_read],
            "may_not": [line.as_dict(administrator) for line in self.may_not],
            "losing": [line.as_dict(administrator) for line in self.losing],
        }


@dataclass(frozen=True)
class PersonReview:
    """What one person may read at one instant: per designation on whose roster they are (and the
    unclassified documents), with the losses of the next `within_days` days."""

    person_id: str
    at: datetime
    day: date
    within_days: int
    lines: list[Line] = field(default_factory=list)

    def as_dict(self, administrator: bool) -> dict[str, Any]:
        readable = [line for line in self.lines if line.decision.allowed]
        return {
            "person": self.person_id,
            "at": self.at.isoformat(),
            "day": self.day.isoformat(),
            "within_days": self.within_days,
            "counts": {
                "designations": sum(1 for line in readable if line.designation_id is not None),
                "documents": sum(line.documents for line in readable),
                "losing": sum(1 for line in readable if line.loss),
            },
            "may_read": [line.as_dict(administrator) for line in readable],
            "may_not": [line.as_dict(administrator) for line in self.lines if not line.decision.allowed],
            "losing": [
                line.as_dict(administrator)
                for line in sorted((x for x in readable if x.loss), key=lambda x: x.loss.on)  # type: ignore[union-attr]
            ],
        }


class Reviewer:
    """Access reviews over one snapshot at a time (the Finder keeps that snapshot's look-ups)."""

    def __init__(self, finder: Finder):
        self.finder = finder

    def review(
        self,
        snapshot: RegistrySnapshot,
        policy: Policy,
        at: datetime,
        *,
        present: bool,
        designation_id: str | None = None,
        document_id: str | None = None,
        within_days: int = 30,
    ) -> Review:
        """Who may read the designation (of the document), who on its roster may not, who loses access.

        `present`: `at` is now (today's registry); else the registry as it stood at `at`."""
        if document_id is not None:
            asked = snapshot.documents.get(document_id)
            if asked is None:
                raise NotFound(f"no document {document_id} in the registry")
            if asked.designation_id is None:
                raise NotFound(f"document {document_id} is unclassified: it has no roster to review")
            designation_id = asked.designation_id
        assert designation_id is not None
        if designation_id not in snapshot.designations:
            raise NotFound(f"no designation {designation_id} in the registry")
        instant, day = (None if present else at), local_day(at, self.finder.zone)
        probe, document = _with_a_document(snapshot, designation_id, self.finder)
        ctx = request_context(policy.context, "evaluation", None)
        candidates = self.finder.designation_candidates(snapshot, policy, designation_id, ACTION, ctx)
        last = day + timedelta(days=within_days)
        count = len(self.finder.index(snapshot).documents.get(designation_id, []))
        may_read, may_not = [], []
        for person in candidates:
            facts = probe.facts(person, document, instant)
            decision = decide(facts, ACTION, day, policy, ctx)
            on_roster = _roster_period(facts, day)
            if decision.allowed:
                loss = first_loss(facts, ACTION, day, last, policy, ctx)
                may_read.append(Line(person, designation_id, decision, on_roster, count, loss))
            elif on_roster:
                may_not.append(Line(person, designation_id, decision, on_roster, count))
        designation = probe.facts("", document, instant).designation
        return Review(designation, designation_id, document_id, at, day, within_days, may_read, may_not)

    def person(
        self,
        snapshot: RegistrySnapshot,
        policy: Policy,
        person_id: str,
        at: datetime,
        *,
        present: bool,
        within_days: int = 30,
    ) -> PersonReview:
        """What `person_id` may read: each designation whose documents they may read, each designation
        on whose roster they are and may not read (with the reasons), and the unclassified documents."""
        if person_id not in snapshot.persons:
            raise NotFound(f"no person {person_id} in the registry")
        instant, day = (None if present else at), local_day(at, self.finder.zone)
        ctx = request_context(policy.context, "evaluation", None)
        index = self.finder.index(snapshot)
        documents = index.documents
        last = day + timedelta(days=within_days)
        groups: list[str | None] = [None, *sorted(index.roster_designations(person_id))]
        if not roster_bound(policy, ACTION, ctx):
            groups = [None, *sorted(d for d in documents if d is not None)]
        lines = []
        for group in groups:
            if group is None:
                members = documents.get(None, [])
                if not members:
                    continue
                facts = snapshot.facts(person_id, members[0], instant)
            else:
                probe, document = _with_a_document(snapshot, group, self.finder)
                facts = probe.facts(person_id, document, instant)
            decision = decide(facts, ACTION, day, policy, ctx)
            on_roster = _roster_period(facts, day)
            if not decision.allowed and group is not None and not on_roster:
                continue  # a past or future roster entry: not the person's to handle on this day
            loss = first_loss(facts, ACTION, day, last, policy, ctx) if decision.allowed else None
            lines.append(Line(person_id, group, decision, on_roster, len(documents.get(group, [])), loss))
        return PersonReview(person_id, at, day, within_days, lines)


def _with_a_document(snapshot: RegistrySnapshot, designation_id: str, finder: Finder) -> tuple[RegistrySnapshot, str]:
    """A document of the designation to decide with (every one of them gets the same decision); a
    designation that holds none yet is reviewed through a stand-in document no request can name."""
    members = finder.index(snapshot).documents.get(designation_id)
    if members:
        return snapshot, members[0]
    stand_in = DocumentFact(f"(documents of {designation_id})", designation_id, "", 0, "")
    return replace(snapshot, documents={stand_in.id: stand_in}), stand_in.id


def _roster_period(facts: Facts, day: date) -> str:
    """The roster period in force on `day`, as "from..until" ("from.." while open; "" when none is)."""
    roster = facts.roster
    if roster is None or not roster.is_in_force(day):
        return ""
    for start, until in ((roster.valid_from, roster.valid_until), *roster.earlier):
        if start <= day and (until is None or day <= until):
            return f"{start.isoformat()}..{until.isoformat() if until else ''}"
    return ""


def window_error(within_days: int) -> str | None:
    if not 0 <= within_days <= MAX_WINDOW_DAYS:
        return f"give a number of days from 0 to {MAX_WINDOW_DAYS}"
    return None
