"""The benchmark's peers decide as the gateway does (a differential test).

The decision core (gateway/decision/), the naive PyCasbin peer (bench/naive/: a plain Enforcer with
eval() rules over attributes gathered apart from the core) and the Cedar peer (bench/cedar/: cedarpy with
bench/cedar/policy.cedar on the same attributes) must give the same allow/deny on every case: those of
the benchmark's generated registries, and facts drawn by hypothesis around every edge the rules have
(C3's anniversaries and the leap day, C4's same-day records, C5's organs, C6's bridge, C8, B1-B3, D3,
N1's windows, unknown and dangling references, an action no rule grants). Cedar also says which forbid
policies matched: they must be the core's reason codes (the five clearance codes are one Cedar policy).
A disagreement means a peer is not the same policy, and the benchmark would compare different things.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cases import prepare_cases
from bench.cedar import CedarDecider
from bench.generator import Shape, generate_bundle
from bench.naive import NaiveDecider
from gateway.decision.engine import decide
from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    Facts,
    PersonFact,
    RosterFact,
)
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from gateway.registry.snapshot import RegistrySnapshot
from models.bundle import Bundle
from tests.support import POLICY_DIR

POLICY = load_policy(POLICY_DIR)
EMPTY = RegistrySnapshot(version=0)
# Days around C3's edges: the 2024-02-29 notifications' last ESI day (2034-02-28) and SDS day
# (2029-02-28), the domain's own example (notified 2025-06-01: valid through 2035-06-01), a leap day.
DAYS = (
    date(2026, 11, 23),
    date(2029, 2, 28),
    date(2029, 3, 1),
    date(2034, 2, 28),
    date(2034, 3, 1),
    date(2035, 6, 1),
    date(2035, 6, 2),
    date(2028, 2, 29),
)
ORGANS = ("METI", "MOD")
DESIGNATION = "G-1"
T = TypeVar("T")


def cedar_ids(codes: tuple[str, ...]) -> set[str]:
    """The Cedar policies (by @id) that a denial with these reason codes matches."""
    return {"clearance" if code.startswith("clearance_") else code for code in codes} - {"action_not_permitted"}


@cache
def naive_on(today: date) -> NaiveDecider:
    return NaiveDecider(EMPTY, today)


@cache
def cedar_on(today: date) -> CedarDecider:
    return CedarDecider(EMPTY, today)


def assert_same(facts: Facts, action: str, today: date) -> None:
    core = decide(facts, action, today, POLICY)
    naive = naive_on(today).decide_facts(facts, action)
    cedar = cedar_on(today).authorize(facts, action)
    case = f"{facts!r}, {action!r} on {today}: core {core.allowed} {core.codes}"
    assert not cedar.diagnostics.errors, f"Cedar evaluation errors {cedar.diagnostics.errors} for {case}"
    assert naive == core.allowed, f"naive PyCasbin says {naive} for {case}"
    assert cedar.allowed == core.allowed, f"Cedar says {cedar.allowed} for {case}"
    matched = set(cedar.diagnostics.id_annotations_by_reason.values())
    assert matched == ({"read"} if core.allowed else cedar_ids(core.codes)), f"Cedar matched {matched} for {case}"


# --- the benchmark's own generated registries ---------------------------------------------------------


@pytest.mark.parametrize(("seed", "today"), [(7, date(2026, 11, 23)), (11, date(2031, 4, 1)), (23, date(2029, 2, 28))])
def test_the_peers_agree_on_every_generated_case(seed: int, today: date) -> None:
    bundle = generate_bundle(Shape.for_persons(150), today, seed)
    snapshot = snapshot_from_bundle(Bundle.model_validate(bundle))
    cases = prepare_cases(bundle, 400, seed)
    for person, document in cases:
        assert_same(snapshot.facts(person, document), "read", today)
    expected = [decide(snapshot.facts(p, d), "read", today, POLICY).allowed for p, d in cases]
    cedar = CedarDecider(snapshot, today)
    batched = [allowed for start in range(0, len(cases), 100) for allowed in cedar.batch(cases[start : start + 100])]
    assert batched == expected, "cedarpy.is_authorized_batch disagrees with the decision core"
    assert 0 < sum(expected) < len(expected), "the generated cases hold both allows and denials"


# --- facts drawn around every edge ---------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Facts, str, date]:
    """Mostly one step from an allow: the organ, the windows and the records are usually the fitting ones,
    and each draw may move some of them across an edge."""
    today = draw(st.sampled_from(DAYS))
    organ = draw(st.sampled_from(ORGANS))  # the designating organ

    def usually(value: T, otherwise: st.SearchStrategy[T]) -> T:
        return value if draw(st.integers(0, 9)) < 8 else draw(otherwise)

    def near(spread: int = 2) -> date:
        return today + timedelta(days=draw(st.integers(-spread, spread)))

    def before() -> date:  # on or before today, usually
        return usually(today - timedelta(days=draw(st.integers(0, 400))), st.builds(near))

    def after() -> date:  # on or after today, usually
        return usually(today + timedelta(days=draw(st.integers(0, 400))), st.builds(near))

    def notified(scheme: str) -> date:  # either side of the last valid day (C3), or well inside the window
        edge = years_before(today, 10 if scheme == "esi" else 5)
        return draw(
            st.one_of(
                st.builds(lambda k: edge + timedelta(days=k), st.integers(-2, 2)),
                st.builds(lambda k: today - timedelta(days=k), st.integers(0, 1500)),
            )
        )

    other_organ = st.sampled_from(ORGANS)
    kind = draw(st.sampled_from(("government", "contractor")))
    department = draw(st.sampled_from(("R&D", "Sales")))
    pid, person = "P-1", None
    if draw(st.integers(0, 19)):  # 1 in 20: unknown to the registry
        if kind == "government":
            office = draw(st.sampled_from((None,) * 6 + ("minister_of_state", "head_of_organ", "counsellor")))
            person = PersonFact(pid, kind, organ_id=usually(organ, other_organ), office=office)
        else:
            person = PersonFact(pid, kind, operator_id="OP-1", department=department)

    designation = None
    shape = draw(st.sampled_from(("classified",) * 6 + ("unclassified", "unknown", "dangling")))
    if shape == "classified":
        cancelled = draw(st.one_of(*[st.none()] * 5, st.builds(near)))
        designation = DesignationFact(
            DESIGNATION, organ, draw(st.sampled_from(("esi", "sds"))), before(), after(), cancelled
        )
    document = {
        "classified": DocumentFact("DOC-1", DESIGNATION),
        "dangling": DocumentFact("DOC-1", DESIGNATION),
        "unclassified": DocumentFact("DOC-1", None),
        "unknown": None,
    }[shape]

    assessments = []
    for i in range(draw(st.sampled_from((0, 1, 1, 1, 2, 3)))):
        scheme = draw(st.sampled_from(("esi", "sds")))
        assessments.append(
            AssessmentFact(
                f"A-{i}",
                usually(organ, other_organ),
                scheme,
                usually("favourable", st.just("unfavourable")),
                notified(scheme),
                usually("active", st.sampled_from(("suspended", "revoked"))),
            )
        )
    if assessments and draw(st.integers(0, 4)) == 0:  # C4: another record on the same day, organ and scheme
        first = assessments[0]
        assessments.append(
            AssessmentFact(
                "A-same-day",
                first.organ_id,
                first.scheme,
                draw(st.sampled_from(("favourable", "unfavourable"))),
                first.notified_on,
                draw(st.sampled_from(("active", "suspended", "revoked"))),
            )
        )
    certifications, contracts = [], []
    if kind == "contractor":
        for i in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
            certifications.append(
                CertificationFact(
                    f"C-{i}",
                    usually(organ, other_organ),
                    before(),
                    usually("active", st.sampled_from(("suspended", "revoked"))),
                )
            )
        for i in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
            covered = usually(frozenset({DESIGNATION}), st.sets(st.sampled_from((DESIGNATION, "G-2"))).map(frozenset))
            departments = usually(
                frozenset({department}), st.sets(st.sampled_from(("R&D", "Sales", "Design"))).map(frozenset)
            )
            contracts.append(
                ContractFact(f"K-{i}", usually(organ, other_organ), before(), after(), covered, departments)
            )
    roster = None
    if designation is not None and draw(st.integers(0, 5)):
        roster = RosterFact(DESIGNATION, pid, before(), draw(st.one_of(st.none(), st.none(), st.builds(after))))
    facts = Facts(
        pid, "DOC-1", person, document, designation, tuple(assessments), tuple(certifications), tuple(contracts), roster
    )
    return facts, draw(st.sampled_from(("read",) * 9 + ("print",))), today


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_the_peers_agree_around_every_edge(situation: tuple[Facts, str, date]) -> None:
    assert_same(*situation)
