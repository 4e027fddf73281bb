"""The Casbin policy: loading refuses bad files with file and line; the policy alone decides."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decision.engine import decide
from gateway.decision.facts import AssessmentFact, DesignationFact, DocumentFact, Facts, PersonFact, RosterFact
from gateway.decision.policy import ObjectAttributes, PolicyError, SubjectAttributes, subject
from gateway.decision.reasons import REASON_CODES
from gateway.policy.files import load_policy, policy_version, split_row
from tests.support import POLICY_DIR

SHIPPED = load_policy(POLICY_DIR)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("tests"))
    return target


def _edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new))


BROKEN = [
    (
        "requirements.csv",
        "!r.sub.known, subject_unknown",
        "!r.sub.known &&, subject_unknown",
        "requirements.csv:5",
        "does not parse",
    ),
    (
        "requirements.csv",
        "!r.sub.on_roster",
        "!r.sub.on_rooster",
        "requirements.csv:",
        "unknown attribute `r.sub.on_rooster`",
    ),
    ("requirements.csv", ", not_on_roster", ", not_on_list", "requirements.csv:", "unknown reason code 'not_on_list'"),
    (
        "actions.csv",
        'p, allow, read, r.sub.kind == "contractor", -',
        'p, permit, read, r.sub.kind == "contractor", -',
        "actions.csv:5",
        "effect must be allow or deny",
    ),
    ("clearance.csv", "p2, sds, 5, anniversary", "p2, sds, five, anniversary", "clearance.csv:6", "whole number"),
    ("clearance.csv", "p2, sds, 5, anniversary", "p2, sds, 5, someday", "clearance.csv:6", "unknown period reading"),
    ("clearance.csv", "g, sds, esi", "g, esi, secret", "clearance.csv:", "must be a scheme"),
    ("clearance.csv", "g, sds, esi", "g, sds, esi\ng, sds, esi", "clearance.csv:", "duplicate of clearance.csv:"),
    (
        "actions.csv",
        'p, allow, read, r.sub.kind == "contractor", -',
        "q, allow, read, x, -",
        "actions.csv:5",
        "not a section of model.conf",
    ),
    (
        "requirements.csv",
        "!r.obj.known, document_unknown",
        "!(r.obj.known, document_unknown",
        "requirements.csv:6",
        "unbalanced brackets",
    ),
    (
        "requirements.csv",
        "!r.obj.known, document_unknown",
        "!r.obj.known), document_unknown",
        "requirements.csv:6",
        "unbalanced brackets",
    ),
    (
        "requirements.csv",
        "!r.obj.known, document_unknown",
        "!(r.obj.known], document_unknown",
        "requirements.csv:6",
        "unbalanced brackets",
    ),
]


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ("p, allow, read, x, -", ["p", "allow", "read", "x", "-"]),
        ('p, deny, *, !g3(r.ctx.site, "a, b"), local:x', ["p", "deny", "*", '!g3(r.ctx.site, "a, b")', "local:x"]),
        ("p, deny, *, (r.sub.a || [r.sub.b, 1][0]) , c", ["p", "deny", "*", "(r.sub.a || [r.sub.b, 1][0])", "c"]),
        ("g, esi, esi", ["g", "esi", "esi"]),
    ],
)
def test_a_row_splits_at_the_commas_outside_brackets(line: str, fields: list[str]) -> None:
    assert split_row(line) == fields


@pytest.mark.parametrize(("name", "old", "new", "where", "says"), BROKEN, ids=[b[4] for b in BROKEN])
def test_a_broken_policy_is_refused_with_file_and_line(
    policy_copy: Path, name: str, old: str, new: str, where: str, says: str
) -> None:
    _edit(policy_copy, name, old, new)
    with pytest.raises(PolicyError) as refused:
        load_policy(policy_copy)
    messages = [str(p) for p in refused.value.problems]
    assert any(m.startswith(where) and says in m for m in messages), messages


def test_files_are_compiled_once_a_process_and_each_load_has_its_own_memo(
    policy_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.policy import files

    compiled: list[object] = []
    real = files.CasbinRules
    monkeypatch.setattr(files, "CasbinRules", lambda *args: compiled.append(args) or real(*args))
    with (policy_copy / "actions.csv").open("a") as csv:
        csv.write(f"# {policy_copy}\n")  # files no other test has: compiled here first
    first, second = load_policy(policy_copy), load_policy(policy_copy)
    assert len(compiled) == 1 and first.version == second.version and first is not second
    sub = subject("government", cleared=True, on_roster=True)
    obj = ObjectAttributes(known=True, classified=True, tier="esi", in_force=True)
    assert first.evaluate(sub, obj, "read") == (True, ())
    assert (first.memo_entries, first.misses, second.memo_entries, second.misses) == (1, 1, 0, 0)
    _edit(policy_copy, "actions.csv", f"# {policy_copy}", f"# {policy_copy}, edited")
    assert load_policy(policy_copy).version != first.version and len(compiled) == 2


def test_a_missing_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="model.conf is missing"):
        load_policy(tmp_path)


def test_the_version_is_a_hash_over_the_files(policy_copy: Path) -> None:
    assert policy_version(policy_copy) == SHIPPED.version
    _edit(policy_copy, "clearance.csv", "g, sds, esi\n", "")
    assert policy_version(policy_copy) != SHIPPED.version


# --- what administrators can change by editing policy files alone ------------------------------------

TODAY = date(2026, 6, 1)
METI_ESI = DesignationFact("G-1", "METI", "esi", date(2025, 6, 1), date(2030, 5, 31))


def _facts(person: PersonFact, *assessments: AssessmentFact) -> Facts:
    return Facts(
        person.id,
        "DOC-1",
        person,
        DocumentFact("DOC-1", "G-1"),
        METI_ESI,
        tuple(assessments),
        (),
        (),
        RosterFact("G-1", person.id, date(2025, 6, 1)),
    )


STAFF = PersonFact("P-1", "government", "METI")


def test_closing_the_bridge_is_one_deleted_row(policy_copy: Path) -> None:
    sds = AssessmentFact("A-1", "METI", "sds", "favourable", date(2025, 6, 1))
    assert decide(_facts(STAFF, sds), "read", TODAY, SHIPPED).allowed
    _edit(policy_copy, "clearance.csv", "g, sds, esi\n", "")
    closed = load_policy(policy_copy)
    assert decide(_facts(STAFF, sds), "read", TODAY, closed).codes == ("clearance_insufficient",)


def test_an_exempt_office_is_one_added_row(policy_copy: Path) -> None:
    adviser = PersonFact("P-2", "government", "METI", office="cabinet_secretary_general")
    assert decide(_facts(adviser), "read", TODAY, SHIPPED).codes == ("clearance_missing",)
    (policy_copy / "clearance.csv").write_text(
        (policy_copy / "clearance.csv").read_text() + "exempt, cabinet_secretary_general, own, *\n"
    )
    assert decide(_facts(adviser), "read", TODAY, load_policy(policy_copy)).allowed


def test_c8_an_exemption_can_differ_by_tier(policy_copy: Path) -> None:
    minister = PersonFact("P-2", "government", "METI", office="minister_of_state")
    assert decide(_facts(minister), "read", TODAY, SHIPPED).allowed
    _edit(policy_copy, "clearance.csv", "exempt, minister_of_state, own, *", "exempt, minister_of_state, own, sds")
    sds_only = load_policy(policy_copy)
    assert decide(_facts(minister), "read", TODAY, sds_only).codes == ("clearance_missing",)  # METI_ESI: ESI
    facts = _facts(minister)
    sds_facts = Facts(
        facts.person_id,
        facts.document_id,
        facts.person,
        facts.document,
        DesignationFact("G-1", "METI", "sds", date(2025, 6, 1), date(2030, 5, 31)),
        (),
        (),
        (),
        facts.roster,
    )
    assert decide(sds_facts, "read", TODAY, sds_only).allowed


def test_c8_an_exemption_can_name_the_organ_whose_information_it_covers(policy_copy: Path) -> None:
    deputy = PersonFact("P-3", "government", "CAS", office="deputy_chief_cabinet_secretary")
    assert decide(_facts(deputy), "read", TODAY, SHIPPED).codes == ("clearance_missing",)  # METI's, not CAS's
    row = "exempt, deputy_chief_cabinet_secretary, METI, esi\n#"
    _edit(policy_copy, "clearance.csv", "# Offices a Cabinet Order", row)
    assert decide(_facts(deputy), "read", TODAY, load_policy(policy_copy)).allowed


def test_c8_a_legacy_g2_row_reads_as_own_organ_both_tiers_and_check_says_so(policy_copy: Path) -> None:
    from gateway.policy.coverage import check

    _edit(policy_copy, "clearance.csv", "exempt, minister_of_state, own, *", "g2, minister_of_state, exempt")
    legacy = load_policy(policy_copy)
    minister = PersonFact("P-2", "government", "METI", office="minister_of_state")
    assert decide(_facts(minister), "read", TODAY, legacy).allowed
    other = PersonFact("P-4", "government", "MOD", office="minister_of_state")
    assert decide(_facts(other), "read", TODAY, legacy).codes == ("clearance_missing",)
    warnings = [w.message for w in check(policy_copy).warnings]
    assert (
        "`g2, minister_of_state, exempt` is read as `exempt, minister_of_state, own, *` (C8); write that row instead"
        in warnings
    )


def test_the_conservative_reading_of_c3_is_one_changed_word(policy_copy: Path) -> None:
    esi = AssessmentFact("A-1", "METI", "esi", "favourable", date(2025, 6, 1))
    long_lived = DesignationFact("G-1", "METI", "esi", date(2033, 1, 1), date(2037, 12, 31))
    facts = Facts(
        "P-1",
        "DOC-1",
        STAFF,
        DocumentFact("DOC-1", "G-1"),
        long_lived,
        (esi,),
        (),
        (),
        RosterFact("G-1", "P-1", date(2025, 6, 1)),
    )
    anniversary = date(2035, 6, 1)
    assert decide(facts, "read", anniversary, SHIPPED).allowed
    _edit(policy_copy, "clearance.csv", "p2, esi, 10, anniversary", "p2, esi, 10, eve_of_anniversary")
    conservative = load_policy(policy_copy)
    assert decide(facts, "read", anniversary, conservative).codes == ("clearance_expired",)
    assert decide(facts, "read", date(2035, 5, 31), conservative).allowed


def test_c3_the_conservative_reading_denies_on_the_anniversary_of_a_28_february_notification(
    policy_copy: Path,
) -> None:
    """SDS notified 2023-02-28, five years: the Civil Code reading runs through 29 February 2028 (a
    leap year); the conservative reading denies from the anniversary, 28 February 2028, on."""
    sds = AssessmentFact("A-1", "METI", "sds", "favourable", date(2023, 2, 28))
    facts = Facts(
        "P-1",
        "DOC-1",
        STAFF,
        DocumentFact("DOC-1", "G-1"),
        DesignationFact("G-1", "METI", "sds", date(2023, 1, 1), date(2030, 12, 31)),
        (sds,),
        (),
        (),
        RosterFact("G-1", "P-1", date(2023, 1, 1)),
    )
    assert decide(facts, "read", date(2028, 2, 29), SHIPPED).allowed
    assert decide(facts, "read", date(2028, 3, 1), SHIPPED).codes == ("clearance_expired",)
    _edit(policy_copy, "clearance.csv", "p2, sds, 5, anniversary", "p2, sds, 5, eve_of_anniversary")
    conservative = load_policy(policy_copy)
    assert decide(facts, "read", date(2028, 2, 27), conservative).allowed
    assert decide(facts, "read", date(2028, 2, 28), conservative).codes == ("clearance_expired",)
    message = decide(facts, "read", date(2028, 2, 28), conservative).reasons[0].message
    assert message == "SDS assessment A-1 by METI notified 2023-02-28 ran out on 2028-02-27"


def test_a_print_action_for_government_staff_only_is_one_added_row(policy_copy: Path) -> None:
    esi = AssessmentFact("A-1", "METI", "esi", "favourable", date(2025, 6, 1))
    assert decide(_facts(STAFF, esi), "print", TODAY, SHIPPED).codes == ("action_not_permitted",)
    (policy_copy / "actions.csv").write_text(
        (policy_copy / "actions.csv").read_text() + 'p, allow, print, r.sub.kind == "government", -\n'
    )
    printing = load_policy(policy_copy)
    assert decide(_facts(STAFF, esi), "print", TODAY, printing).allowed
    employee = PersonFact("C-1", "contractor", operator_id="ACME", department="R&D")
    codes = decide(_facts(employee, esi), "print", TODAY, printing).codes
    assert "action_not_permitted" in codes


# --- the policy against an independent reading of it ---------------------------------------------------


def _oracle(sub: SubjectAttributes, obj: ObjectAttributes, action: str) -> list[str]:
    """The shipped policy's requirements, read straight from requirements.csv by a person."""
    codes = []
    if not sub.known:
        codes.append("subject_unknown")
    if not obj.known:
        codes.append("document_unknown")
    if sub.known and not (action == "read" and sub.kind in ("government", "contractor")):
        codes.append("action_not_permitted")
    if obj.classified and not obj.in_force:
        codes.append("designation_not_in_force")
    needs_clearance = sub.known and obj.classified and not sub.exempt
    states = [sub.clearance_expired, sub.clearance_suspended, sub.clearance_revoked, sub.clearance_insufficient]
    if needs_clearance and not sub.cleared and not any(states):
        codes.append("clearance_missing")
    for flag, code in zip(
        states, ["clearance_expired", "clearance_suspended", "clearance_revoked", "clearance_insufficient"], strict=True
    ):
        if needs_clearance and flag:
            codes.append(code)
    if sub.kind == "contractor" and obj.classified and not sub.certified:
        codes.append("employer_not_certified")
    if sub.kind == "contractor" and obj.classified and not sub.contracted:
        codes.append("contract_not_in_force")
    if sub.known and obj.classified and not sub.on_roster:
        codes.append("not_on_roster")
    return codes


subjects = st.builds(
    SubjectAttributes, st.booleans(), st.sampled_from(["government", "contractor", ""]), *[st.booleans()] * 9
)
objects = st.builds(
    ObjectAttributes, st.booleans(), st.booleans(), st.sampled_from(["esi", "sds", "unclassified"]), st.booleans()
)


@given(subjects, objects, st.sampled_from(["read", "print", "delete"]))
def test_casbin_agrees_with_a_plain_reading_of_the_policy(
    sub: SubjectAttributes, obj: ObjectAttributes, action: str
) -> None:
    allowed, codes = SHIPPED.evaluate(sub, obj, action)
    expected = _oracle(sub, obj, action)
    assert list(codes) == expected
    assert allowed is (not expected)
    assert list(codes) == sorted(codes, key=REASON_CODES.index)


# --- the whole core on random facts: it always answers, and explains every denial ------------------------

_days = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
_organs = st.sampled_from(["METI", "MOD"])
_persons = st.one_of(
    st.none(),
    st.builds(
        PersonFact,
        st.just("P-1"),
        st.sampled_from(["government", "contractor"]),
        _organs,
        st.sampled_from([None, "ACME"]),
        st.sampled_from([None, "R&D", "Sales"]),
        st.sampled_from([None, "minister_of_state", "clerk"]),
    ),
)
_designations = st.one_of(
    st.none(),
    st.builds(
        DesignationFact,
        st.just("G-1"),
        _organs,
        st.sampled_from(["esi", "sds"]),
        _days,
        _days,
        st.one_of(st.none(), _days),
    ),
)
_assessments = st.lists(
    st.builds(
        AssessmentFact,
        st.text("AB12", min_size=1, max_size=3),
        _organs,
        st.sampled_from(["esi", "sds"]),
        st.sampled_from(["favourable", "unfavourable"]),
        _days,
        st.sampled_from(["active", "suspended", "revoked"]),
    ),
    max_size=4,
)


@given(
    _persons,
    st.booleans(),
    _designations,
    _assessments,
    st.one_of(st.none(), _days),
    _days,
    st.sampled_from(["read", "print"]),
)
def test_the_core_always_answers_and_explains(
    person, known_document, designation, assessments, roster_from, today, action
) -> None:  # type: ignore[no-untyped-def]
    document = DocumentFact("DOC-1", designation.id if designation else None) if known_document else None
    roster = RosterFact("G-1", "P-1", roster_from) if roster_from and designation else None
    facts = Facts(
        "P-1", "DOC-1", person, document, designation if known_document else None, tuple(assessments), (), (), roster
    )
    decision = decide(facts, action, today, SHIPPED)
    assert decision.allowed is (not decision.reasons)
    assert all(r.message for r in decision.reasons)
    if person is None:
        assert decision.codes[0] == "subject_unknown"


def test_the_event_loop_path_never_runs_casbin_it_asks_for_a_thread_instead() -> None:
    """memo_only: a vector Casbin has not evaluated yet raises NotMemoized (the service then decides
    in a thread); once evaluated, the same vector answers from the memo."""
    from gateway.decision.policy import NotMemoized

    policy = load_policy(POLICY_DIR)
    sub = SubjectAttributes(True, "government", False, True, False, False, False, False, False, False, True)
    obj = ObjectAttributes(True, True, "esi", True)
    with pytest.raises(NotMemoized):
        policy.evaluate(sub, obj, "read", memo_only=True)
    assert policy.misses == 0
    assert policy.evaluate(sub, obj, "read") == (True, ())
    assert policy.evaluate(sub, obj, "read", memo_only=True) == (True, ())
    assert policy.misses == 1
