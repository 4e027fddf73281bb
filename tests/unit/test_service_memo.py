"""The decision memo the service keeps (gateway/service_memo.py): the same question on the same snapshot
is answered from memory, another snapshot never sees its entries, and what it keeps is bounded."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import cache

import pytest

from gateway.audit.record import Columns
from gateway.decision.engine import decide
from gateway.decision.policy import NO_CONTEXT, NotMemoized, Policy
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from gateway.registry.snapshot import RegistrySnapshot
from gateway.service_memo import Decided, DecisionMemo
from models.bundle import Bundle
from models.identifiers import MAX_ID_LENGTH
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR

DAY = date(2026, 6, 1)


@cache
def _snapshot() -> RegistrySnapshot:
    return snapshot_from_bundle(Bundle.model_validate(rules_bundle()))


def _policy() -> Policy:
    return load_policy(POLICY_DIR)


def test_the_same_question_is_answered_from_memory_and_agrees_with_the_core() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    first = memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy)
    assert memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy) is first
    core = decide(snapshot.facts("P-OK", "D-ESI"), "read", DAY, policy)
    assert (first[1].allowed, first[1].codes) == (core.allowed, core.codes) == (True, ())
    assert memo.stats() == {"entries": 1, "snapshot_version": snapshot.version}


def test_another_day_action_or_policy_is_another_question() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy)
    memo.decide(snapshot, "P-OK", "D-ESI", "read", date(2026, 6, 2), policy)
    memo.decide(snapshot, "P-OK", "D-ESI", "print", DAY, policy)
    memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, replace(policy, version="sha256:other"))
    assert memo.stats()["entries"] == 4


def test_a_new_snapshot_starts_a_new_memo_so_a_changed_fact_is_never_answered_from_the_old_one() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    assert memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy)[1].allowed
    off_roster = replace(snapshot, roster={k: v for k, v in snapshot.roster.items() if k[1] != "P-OK"})
    assert off_roster.version == snapshot.version  # the same version number: the memo goes by the snapshot itself
    again = memo.decide(off_roster, "P-OK", "D-ESI", "read", DAY, policy)[1]
    assert not again.allowed and "not_on_roster" in again.codes
    assert memo.stats()["entries"] == 1


def test_the_memo_keeps_no_replaced_snapshot_alive() -> None:
    memo, policy = DecisionMemo(), _policy()
    snapshot = replace(_snapshot())
    held = weakref.ref(snapshot)
    memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy)
    del snapshot
    gc.collect()
    assert held() is None, "the memo held the snapshot"
    assert memo.stats() == {"entries": 0, "snapshot_version": -1}
    assert memo.decide(_snapshot(), "P-OK", "D-ESI", "read", DAY, policy)[1].allowed


def test_the_memo_is_bounded_in_entries() -> None:
    memo, snapshot, policy = DecisionMemo(kept=2), _snapshot(), _policy()
    for document in ("D-ESI", "D-SDS", "D-PUB"):
        memo.decide(snapshot, "P-OK", document, "read", DAY, policy)
    assert memo.stats()["entries"] == 1  # full at two: cleared, then the third kept


def test_a_question_with_an_id_past_the_id_rules_is_answered_and_not_kept() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    long_id = "P" * (MAX_ID_LENGTH + 1)
    _, decision = memo.decide(snapshot, long_id, "D-ESI", "read", DAY, policy)
    assert decision.codes == ("subject_unknown",)
    assert memo.questions() == []


def test_memo_only_never_evaluates_the_policy_for_the_first_time() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    with pytest.raises(NotMemoized):
        memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy, memo_only=True)
    memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy)
    assert memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy, memo_only=True)[1].allowed


def _columns_counted(made: list[str]) -> Callable[[Decided], Columns]:
    def columns(decided: Decided) -> Columns:
        made.append("made")
        return Columns.of("P", "D", "read", decided[1].reason_dicts, {"n": len(made)}, None)

    return columns


def test_a_questions_record_columns_are_made_once_a_snapshot_and_again_on_a_new_one() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    made: list[str] = []
    first = memo.decide_logged(snapshot, "P-OK", "D-ESI", "read", DAY, policy, NO_CONTEXT, _columns_counted(made))
    again = memo.decide_logged(snapshot, "P-OK", "D-ESI", "read", DAY, policy, NO_CONTEXT, _columns_counted(made))
    assert again[1] is first[1] and again[0] is first[0] and made == ["made"]
    assert memo.decide(snapshot, "P-OK", "D-ESI", "read", DAY, policy) is first[0]
    renewed = memo.decide_logged(replace(snapshot), "P-OK", "D-ESI", "read", DAY, policy, NO_CONTEXT,
                                 _columns_counted(made))  # fmt: skip
    assert renewed[1] is not first[1] and len(made) == 2


def test_the_columns_of_a_question_the_memo_does_not_keep_are_made_every_time() -> None:
    memo, snapshot, policy = DecisionMemo(), _snapshot(), _policy()
    made: list[str] = []
    long_id = "P-" + "1" * MAX_ID_LENGTH
    for _ in range(2):
        memo.decide_logged(snapshot, long_id, "D-ESI", "read", DAY, policy, NO_CONTEXT, _columns_counted(made))
    assert made == ["made", "made"] and memo.stats()["entries"] == 0
