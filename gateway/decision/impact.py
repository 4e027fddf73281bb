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
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, Protocol

from gateway.decision.engine import classify, decide
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
from gateway.decision.impact_report import Change, ImpactReport, change_kind
from gateway.decision.policy import NO_CONTEXT, ObjectAttributes, Policy, SubjectAttributes, subject
from gateway.decision.policy_context import RequestContext

Pair = tuple[SubjectAttributes, SubjectAttributes]  # (under the running policy, under the candidate)
_EXAMPLES = 3
_UNCLASSIFIED, _DANGLING = ("", "unclassified"), ("", "dangling")


class _Counts:
    """Persons by attribute pair, for one (organ, tier), with a few example persons per pair."""

    def __init__(self) -> None:
        self.count: Counter[Pair] = Counter()
        self.examples: dict[Pair, list[str]] = defaultdict(list)

    def add(self, pair: Pair, n: int, person: str | None = None) -> None:
        self.count[pair] += n
        if person is not None and len(self.examples[pair]) < _EXAMPLES:
            self.examples[pair].append(person)


class Registry(Protocol):
    """What a policy change's impact reads of the registry: its records by id, and the facts of a
    (person, document). The registry's snapshot is one (gateway/registry/snapshot.py); the core only
    names the shape, and so imports nothing from the layers above it."""

    @property
    def persons(self) -> Mapping[str, PersonFact]: ...
    @property
    def documents(self) -> Mapping[str, DocumentFact]: ...
    @property
    def designations(self) -> Mapping[str, DesignationFact]: ...
    @property
    def assessments(self) -> Mapping[str, tuple[AssessmentFact, ...]]: ...
    @property
    def certifications(self) -> Mapping[str, tuple[CertificationFact, ...]]: ...
    @property
    def contracts(self) -> Mapping[str, tuple[ContractFact, ...]]: ...
    @property
    def roster(self) -> Mapping[tuple[str, str], RosterFact]: ...
    @property
    def provisions(self) -> Mapping[str, tuple[ProvisionFact, ...]]: ...

    def facts(self, person_id: str, document_id: str) -> Facts: ...


def impact(
    snapshot: Registry,
    before: Policy,
    after: Policy,
    day: date,
    ctx: RequestContext = NO_CONTEXT,
    progress: Callable[[int], None] = lambda n: None,
) -> ImpactReport:
    """Every decision the registry allows on `day` under both policies; what differs, grouped.

    Each (organ, tier, in force) class is tallied once with its persons as for a designation with no
    roster and no contract, times all its documents; each designation then adds only what its roster
    and contracts move, times its own documents."""
    actions = tuple(sorted(before.actions | after.actions))
    docs_by_designation: dict[str | None, list[str]] = defaultdict(list)
    for document in snapshot.documents.values():
        key = document.designation_id
        docs_by_designation[key if key is None or key in snapshot.designations else _DANGLING_KEY].append(document.id)
    report = ImpactReport(day, len(snapshot.persons), len(snapshot.documents), actions)
    study = _Study(snapshot, before, after, day, ctx, report)
    members: dict[tuple[str, str, bool], list[str]] = defaultdict(list)  # class -> its designations
    for key in docs_by_designation:
        if key is not None and key != _DANGLING_KEY:
            d = snapshot.designations[key]
            members[(d.organ_id, d.scheme, d.is_in_force(day))].append(key)
    base = study.base_counts({(o, t) for o, t, _ in members} | {_UNCLASSIFIED, _DANGLING})
    for key in (None, _DANGLING_KEY):
        if key in docs_by_designation:
            documents = docs_by_designation[key]
            counts = base[_UNCLASSIFIED if key is None else _DANGLING]
            study.tally(counts.count, counts.examples, _object(None, key, day), len(documents), documents)
            progress(1)
    for (organ, tier, in_force), keys in members.items():
        obj = ObjectAttributes(True, True, tier, in_force)
        documents = [doc for key in keys for doc in docs_by_designation[key][:1]]
        counts = base[(organ, tier)]
        study.tally(counts.count, counts.examples, obj, sum(len(docs_by_designation[k]) for k in keys), documents)
        for key in keys:
            delta, examples = study.moves(snapshot.designations[key])
            study.tally(delta, examples, obj, len(docs_by_designation[key]), docs_by_designation[key])
            progress(1)
    report.changes = {k: c for k, c in report.changes.items() if c.count}
    return report


_DANGLING_KEY = "\0dangling"


def _object(designation: DesignationFact | None, key: str | None, day: date) -> ObjectAttributes:
    if key is None:
        return ObjectAttributes(True, False, "unclassified", False)
    if designation is None:
        return ObjectAttributes(True, True, "esi", False)  # a dangling reference: classified, not in force
    return ObjectAttributes(True, True, designation.scheme, designation.is_in_force(day))


class _Study:
    def __init__(
        self,
        snapshot: Registry,
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
        self._group_pairs: dict[tuple[tuple[str, str], str, str], Counter[Pair]] = {}
        self._set: dict[tuple[Pair, str], Pair] = {}
        self._defaults: dict[tuple[str, str | None], Pair] = {}
        self.operators_of: dict[str, set[str]] = defaultdict(set)  # designation -> operators contracting for it
        for operator, contracts in snapshot.contracts.items():
            for contract in contracts:
                for designation_id in contract.designation_ids:
                    self.operators_of[designation_id].add(operator)
        self.organs = {d.organ_id for d in snapshot.designations.values()}
        self.assessed_staff: dict[str, list[PersonFact]] = defaultdict(list)  # organ -> staff it assessed (C5a)
        for person in snapshot.persons.values():
            if person.kind == "government" and person.organ_id and self._interesting(person):
                self.assessed_staff[person.organ_id].append(person)
        self.on_roster: dict[str, list[str]] = defaultdict(list)  # designation -> persons on its roster today
        for (designation_id, person_id), entry in snapshot.roster.items():
            if entry.is_in_force(day) and person_id in snapshot.persons:
                self.on_roster[designation_id].append(person_id)

    def _pair(self, facts: Facts) -> Pair:
        return classify(facts, self.day, self.before)[0], classify(facts, self.day, self.after)[0]

    def default(self, person: PersonFact) -> Pair:
        """The pair of a person with no facts about an organ: only the kind shows (an office-holder,
        whose exemption depends on the organ and tier (C8), is decided exactly: _interesting)."""
        key = (person.kind, None)
        pair = self._defaults.get(key)
        if pair is None:
            vector = subject(person.kind)
            pair = self._defaults[key] = (vector, vector)
        return pair

    def moved(self, pair: Pair, attribute: str) -> Pair:
        """The pair with `attribute` (contracted or on_roster) true, memoized (there are few pairs)."""
        key = (pair, attribute)
        out = self._set.get(key)
        if out is None:
            changed: dict[str, Any] = {attribute: True}
            out = self._set[key] = (pair[0]._replace(**changed), pair[1]._replace(**changed))
        return out

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
        if person.kind == "government" and person.office is not None:
            return self.organs  # C8: an exemption depends on the organ and the tier
        if person.kind == "government":
            organ = person.organ_id
            return {organ} if organ is not None and any(a.organ_id == organ for a in records) else set()
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
            provisions=self.snapshot.provisions.get(designation.id, ()),
        )

    def pair_of(self, person: PersonFact, designation: DesignationFact) -> Pair:
        key = (person.id, designation.organ_id, designation.scheme)
        return self.exact.get(key) or self.default(person)

    def _group(self, group: tuple[str, str], designation: DesignationFact) -> Counter[Pair]:
        key = (group, designation.organ_id, designation.scheme)
        pairs = self._group_pairs.get(key)
        if pairs is None:
            pairs = self._group_pairs[key] = Counter(self.pair_of(p, designation) for p in self.groups.get(group, ()))
        return pairs

    def moves(self, designation: DesignationFact) -> tuple[Counter[Pair], dict[Pair, list[str]]]:
        """What this designation's contract coverage and roster move from its class's counts."""
        delta: Counter[Pair] = Counter()
        examples: dict[Pair, list[str]] = {}
        covered: set[tuple[str, str]] = set()
        for operator in self.operators_of.get(designation.id, ()):
            for contract in self.snapshot.contracts.get(operator, ()):
                if (
                    contract.organ_id == designation.organ_id
                    and designation.id in contract.designation_ids
                    and contract.is_in_force(self.day)
                ):
                    covered.update((operator, dept) for dept in contract.departments)
        for group in covered:
            for pair, n in self._group(group, designation).items():
                delta[pair] -= n
                delta[self.moved(pair, "contracted")] += n
                if self.groups.get(group):
                    examples.setdefault(self.moved(pair, "contracted"), [p.id for p in self.groups[group][:_EXAMPLES]])
        provided = self._provided(designation, delta, examples)
        for person_id in self.on_roster.get(designation.id, ()):
            person = self.snapshot.persons[person_id]
            pair = provided.get(person_id) or self.pair_of(person, designation)
            if person.kind == "contractor" and (person.operator_id or "", person.department or "") in covered:
                pair = self.moved(pair, "contracted")
            delta[pair] -= 1
            delta[self.moved(pair, "on_roster")] += 1
            examples.setdefault(self.moved(pair, "on_roster"), []).append(person_id)
        return delta, examples

    def _provided(
        self, designation: DesignationFact, delta: Counter[Pair], examples: dict[Pair, list[str]]
    ) -> dict[str, Pair]:
        """C5a: staff of an organ the designation is provided to, judged by their own organ's
        assessments: their pairs for this designation (moved in `delta`), by person."""
        pairs: dict[str, Pair] = {}
        for provision in self.snapshot.provisions.get(designation.id, ()):
            if provision.organ_id == designation.organ_id or not provision.is_in_force(self.day):
                continue
            for person in self.assessed_staff.get(provision.organ_id, ()):
                if person.id in pairs:
                    continue
                exact = self._pair(self._facts(person, designation))
                usual = self.pair_of(person, designation)
                if exact != usual:
                    pairs[person.id] = exact
                    delta[usual] -= 1
                    delta[exact] += 1
                    examples.setdefault(exact, []).append(person.id)
        return pairs

    def tally(
        self,
        counts: Mapping[Pair, int],
        examples: Mapping[Pair, list[str]],
        obj: ObjectAttributes,
        documents: int,
        some_documents: list[str],
    ) -> None:
        """Add `counts` (persons by pair, each times `documents`) to the report's changes."""
        for action in self.report.actions:
            for pair, n in counts.items():
                if n == 0:
                    continue
                was = self.before.evaluate(pair[0], obj, action, self.ctx)
                now = self.after.evaluate(pair[1], obj, action, self.ctx)
                kind = change_kind(was, now)
                if kind is None:
                    continue
                change = self.report.changes.get((action, was, now))
                if change is None:
                    change = self.report.changes[(action, was, now)] = Change(kind, action, was, now)
                change.count += n * documents
                if n > 0 and len(change.examples) < _EXAMPLES:
                    self._example(change, examples.get(pair, ()), some_documents)

    def _example(self, change: Change, persons: Iterable[str], documents: list[str]) -> None:
        """Only an example that the full decision confirms under both policies is shown."""
        for person in list(persons)[:_EXAMPLES]:
            for document in documents[:_EXAMPLES]:
                facts = self.snapshot.facts(person, document)
                was = decide(facts, change.action, self.day, self.before, self.ctx)
                now = decide(facts, change.action, self.day, self.after, self.ctx)
                if (was.allowed, was.codes) == change.was and (now.allowed, now.codes) == change.now:
                    if (person, document) not in change.examples:
                        change.examples.append((person, document))
                    return
