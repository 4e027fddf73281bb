"""What a candidate policy changes over the whole registry: every (person, document, action) at one day.

The cross product is large (100,000 persons x 20,000 documents), but a decision depends on the pair
only through flat attributes, and most of those are shared:

- every document under one designation gets the same decision (documents are counted, not decided);
- a person's attributes relative to a designation depend on its organ and tier (the clearance picture,
  the employer's certification), plus two per-designation facts: the roster entry and the contract
  coverage of the person's (employer, department);
- a person with no assessment by an organ and no certification from it looks, to that organ's
  designations, like every other such person of the same kind and office.

So the persons are counted by their pair of attribute vectors (one per policy) for each (organ, tier),
computed exactly only where the person has facts about the organ; each designation then moves the
counts of its roster entries and its covered (employer, department) groups. Both policies evaluate
each distinct vector once (their memo). Examples are re-decided in full, so what is shown is checked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.decision.engine import classify, decide
from gateway.decision.facts import DesignationFact, DocumentFact, Facts, PersonFact
from gateway.decision.policy import NO_CONTEXT, ObjectAttributes, Policy, SubjectAttributes
from gateway.decision.policy_context import RequestContext
from gateway.registry.snapshot import RegistrySnapshot

Pair = tuple[SubjectAttributes, SubjectAttributes]  # (under the running policy, under the candidate)
Outcome = tuple[bool, tuple[str, ...]]
_EXAMPLES = 3
_UNCLASSIFIED, _DANGLING = ("", "unclassified"), ("", "dangling")


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    """One shape for "was" and "now", in both sections of the report."""
    allowed, codes = outcome
    return {"decision": "allow" if allowed else "deny", "reasons": list(codes)}


def change_kind(was: Outcome, now: Outcome) -> str | None:
    if was == now:
        return None
    if now[0] and not was[0]:
        return "widens"
    if was[0] and not now[0]:
        return "narrows"
    return "reasons changed"  # deny -> deny with other codes


@dataclass
class Change:
    kind: str
    action: str
    was: Outcome
    now: Outcome
    count: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (person, document)

    def rules(self, before: Policy, after: Policy) -> list[str]:
        """The deny rows behind the codes that differ, as file:line (code), in the policy holding them."""
        out = []
        for code in sorted(set(self.was[1]) ^ set(self.now[1])):
            policy, verb = (before, "removed") if code in self.was[1] else (after, "added")
            rows = [r for r in policy.rows if r.ptype == "p" and r.values[0] == "deny" and r.values[3] == code]
            where = ", ".join(f"{r.file}:{r.line}" for r in rows) or "the action's grant"
            out.append(f"{code} {verb} ({where})")
        return out

    def as_dict(self, before: Policy, after: Policy) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "was": outcome_dict(self.was),
            "now": outcome_dict(self.now),
            "rules": self.rules(before, after),
            "count": self.count,
            "examples": [{"person": p, "document": d} for p, d in self.examples],
        }


@dataclass
class ImpactReport:
    day: date
    persons: int
    documents: int
    actions: tuple[str, ...]
    changes: dict[tuple[str, Outcome, Outcome], Change] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return self.persons * self.documents * len(self.actions)

    @property
    def widening(self) -> int:
        return sum(c.count for c in self.changes.values() if c.kind == "widens")

    def sorted(self) -> list[Change]:
        order = {"widens": 0, "narrows": 1, "reasons changed": 2}
        return sorted(self.changes.values(), key=lambda c: (order[c.kind], -c.count))


class _Counts:
    """Persons by attribute pair, for one (organ, tier), with a few example persons per pair."""

    def __init__(self) -> None:
        self.count: Counter[Pair] = Counter()
        self.examples: dict[Pair, list[str]] = defaultdict(list)

    def add(self, pair: Pair, n: int, person: str | None = None) -> None:
        self.count[pair] += n
        if person is not None and len(self.examples[pair]) < _EXAMPLES:
            self.examples[pair].append(person)


def impact(
    snapshot: RegistrySnapshot,
    before: Policy,
    after: Policy,
    day: date,
    ctx: RequestContext = NO_CONTEXT,
    progress: Callable[[int], None] = lambda n: None,
) -> ImpactReport:
    """Every decision the registry allows on `day` under both policies; what differs, grouped."""
    actions = tuple(sorted(before.actions | after.actions))
    docs_by_designation: dict[str | None, list[str]] = defaultdict(list)
    for document in snapshot.documents.values():
        key = document.designation_id
        docs_by_designation[key if key is None or key in snapshot.designations else "\0dangling"].append(document.id)
    report = ImpactReport(day, len(snapshot.persons), len(snapshot.documents), actions)
    study = _Study(snapshot, before, after, day, ctx, report)
    classes = {(d.organ_id, d.scheme) for i, d in snapshot.designations.items() if i in docs_by_designation}
    base = study.base_counts(classes | {_UNCLASSIFIED, _DANGLING})
    for key, documents in docs_by_designation.items():
        if key is None or key == "\0dangling":
            cls = _UNCLASSIFIED if key is None else _DANGLING
            study.tally(base[cls], _object(None, key, day), documents, None)
        else:
            designation = snapshot.designations[key]
            counts = study.designation_counts(base[(designation.organ_id, designation.scheme)], designation)
            study.tally(counts, _object(designation, key, day), documents, designation)
        progress(1)
    return report


def _object(designation: DesignationFact | None, key: str | None, day: date) -> ObjectAttributes:
    if key is None:
        return ObjectAttributes(True, False, "unclassified", False)
    if designation is None:
        return ObjectAttributes(True, True, "esi", False)  # a dangling reference: classified, not in force
    return ObjectAttributes(True, True, designation.scheme, designation.is_in_force(day))


class _Study:
    def __init__(
        self,
        snapshot: RegistrySnapshot,
        before: Policy,
        after: Policy,
        day: date,
        ctx: RequestContext,
        report: ImpactReport,
    ):
        self.snapshot, self.before, self.after, self.day, self.ctx = snapshot, before, after, day, ctx
        self.report = report
        self.exact: dict[tuple[str, str, str], Pair] = {}  # (person, organ, tier) where not the default
        self.groups: dict[tuple[str, str], list[PersonFact]] = defaultdict(list)  # contractors by employer, dept

    def _pair(self, facts: Facts) -> Pair:
        return classify(facts, self.day, self.before)[0], classify(facts, self.day, self.after)[0]

    def default(self, person: PersonFact) -> Pair:
        def vector(policy: Policy) -> SubjectAttributes:
            exempt = person.office is not None and person.office in policy.exempt_offices
            return SubjectAttributes(True, person.kind, exempt, *([False] * 8))

        return vector(self.before), vector(self.after)

    def base_counts(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], _Counts]:
        """For each (organ, tier): persons by pair, as for a designation with no roster and no contract."""
        organs = {organ for organ, _ in classes if organ}
        tiers = {tier for organ, tier in classes if organ}
        defaults: _Counts = _Counts()
        base = {cls: _Counts() for cls in classes}
        for person in self.snapshot.persons.values():
            pair = self.default(person)
            defaults.add(pair, 1, person.id)
            if person.kind == "contractor" and person.operator_id:
                self.groups[(person.operator_id, person.department or "")].append(person)
            for organ in self._interesting(person) & organs:
                for tier in tiers:
                    if (organ, tier) not in base:
                        continue
                    exact = self._pair(self._facts(person, DesignationFact("\0", organ, tier, self.day, self.day)))
                    if exact != pair:
                        self.exact[(person.id, organ, tier)] = exact
                        base[(organ, tier)].add(pair, -1)
                        base[(organ, tier)].add(exact, 1, person.id)
        for counts in base.values():
            for pair, n in defaults.count.items():
                counts.add(pair, n)
                counts.examples[pair] += defaults.examples[pair][: _EXAMPLES - len(counts.examples[pair])]
        return base

    def _interesting(self, person: PersonFact) -> set[str]:
        """Organs whose designations see this person other than by kind and office."""
        records = self.snapshot.assessments.get(person.id, ())
        if person.kind == "government":
            return {person.organ_id} if any(a.organ_id == person.organ_id for a in records) else set()
        certifications = self.snapshot.certifications.get(person.operator_id or "", ())
        return {a.organ_id for a in records} | {c.organ_id for c in certifications}

    def _facts(self, person: PersonFact, designation: DesignationFact) -> Facts:
        operator = person.operator_id or ""
        return Facts(
            person.id,
            "\0",
            person=person,
            document=DocumentFact("\0", designation.id),
            designation=designation,
            assessments=self.snapshot.assessments.get(person.id, ()),
            certifications=self.snapshot.certifications.get(operator, ()) if person.kind == "contractor" else (),
        )

    def pair_of(self, person: PersonFact, designation: DesignationFact) -> Pair:
        key = (person.id, designation.organ_id, designation.scheme)
        return self.exact.get(key) or self.default(person)

    def designation_counts(self, base: _Counts, designation: DesignationFact) -> _Counts:
        """The class's counts, moved by this designation's contract coverage and roster."""
        counts = _Counts()
        counts.count = base.count.copy()
        counts.examples = base.examples  # shared: examples are checked before they are shown
        covered: set[tuple[str, str]] = set()
        for operator in self._operators_of(designation):
            for contract in self.snapshot.contracts.get(operator, ()):
                if (
                    contract.organ_id == designation.organ_id
                    and designation.id in contract.designation_ids
                    and contract.is_in_force(self.day)
                ):
                    covered.update((operator, dept) for dept in contract.departments)
        for group in covered:
            for person in self.groups.get(group, ()):
                pair = self.pair_of(person, designation)
                counts.add(pair, -1)
                counts.add(_set(pair, contracted=True), 1, None)
                counts.examples.setdefault(_set(pair, contracted=True), [person.id])
        for person_id in self._on_roster(designation):
            person = self.snapshot.persons.get(person_id)
            if person is None:
                continue
            pair = self.pair_of(person, designation)
            if (person.operator_id, person.department or "") in covered and person.kind == "contractor":
                pair = _set(pair, contracted=True)
            counts.add(pair, -1)
            counts.add(_set(pair, on_roster=True), 1, None)
            counts.examples.setdefault(_set(pair, on_roster=True), [person.id])
        return counts

    def _operators_of(self, designation: DesignationFact) -> Iterable[str]:
        return self._contracting().get(designation.id, ())

    def _contracting(self) -> dict[str, set[str]]:
        """designation -> operators with a contract listing it (built once)."""
        if not hasattr(self, "_by_designation"):
            by: dict[str, set[str]] = defaultdict(set)
            for operator, contracts in self.snapshot.contracts.items():
                for contract in contracts:
                    for designation_id in contract.designation_ids:
                        by[designation_id].add(operator)
            self._by_designation = by
        return self._by_designation

    def _on_roster(self, designation: DesignationFact) -> list[str]:
        if not hasattr(self, "_roster"):
            by: dict[str, list[str]] = defaultdict(list)
            for (designation_id, person_id), entry in self.snapshot.roster.items():
                if entry.is_in_force(self.day):
                    by[designation_id].append(person_id)
            self._roster = by
        return self._roster.get(designation.id, [])

    def tally(
        self, counts: _Counts, obj: ObjectAttributes, documents: list[str], designation: DesignationFact | None
    ) -> None:
        for action in self.report.actions:
            for pair, n in counts.count.items():
                if n <= 0:
                    continue
                was = self.before.evaluate(pair[0], obj, action, self.ctx)
                now = self.after.evaluate(pair[1], obj, action, self.ctx)
                kind = change_kind(was, now)
                if kind is None:
                    continue
                change = self.report.changes.get((action, was, now))
                if change is None:
                    change = self.report.changes[(action, was, now)] = Change(kind, action, was, now)
                change.count += n * len(documents)
                if len(change.examples) < _EXAMPLES:
                    self._example(change, counts.examples.get(pair, ()), documents[0])

    def _example(self, change: Change, persons: Iterable[str], document: str) -> None:
        """Only an example that the full decision confirms under both policies is shown."""
        for person in persons:
            facts = self.snapshot.facts(person, document)
            was = decide(facts, change.action, self.day, self.before, self.ctx)
            now = decide(facts, change.action, self.day, self.after, self.ctx)
            if (was.allowed, was.codes) == change.was and (now.allowed, now.codes) == change.now:
                if (person, document) not in change.examples:
                    change.examples.append((person, document))
                return


def _set(pair: Pair, **values: bool) -> Pair:
    return pair[0]._replace(**values), pair[1]._replace(**values)
