"""In this process: the decision core and its peers, naive PyCasbin and cedarpy (single and batched)."""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.cases import Case
from bench.cedar import CedarDecider
from bench.naive import NaiveDecider
from bench.timing import Timed, index_batches, timed_batches, timed_calls
from gateway.decision.engine import decide
from gateway.decision.policy import Policy
from gateway.registry.snapshot import RegistrySnapshot
from gateway.service_memo import DecisionMemo


@dataclass(frozen=True)
class CoreFailure:
    case: Case
    error: str  # exception type and where it was raised

    def as_dict(self) -> dict[str, Any]:
        return {"person": self.case[0], "document": self.case[1], "error": self.error}


@dataclass
class Prepared:
    """The cases every measurement decides, with the decision core's answer to each."""

    cases: list[Case] = field(default_factory=list)
    expected: list[bool] = field(default_factory=list)
    reasons: list[tuple[str, ...]] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)  # reason codes over the cases; "allow" for allows
    failures: list[CoreFailure] = field(default_factory=list)  # cases the decision core cannot decide


def prepare(candidates: list[Case], snapshot: RegistrySnapshot, policy: Policy, today: date) -> Prepared:
    """Decide every candidate once (this also warms the policy's memo). A case on which the decision
    core raises is set aside and reported: it cannot be timed, and its answer cannot be compared."""
    prepared = Prepared()
    for case in candidates:
        try:
            decision = decide(snapshot.facts(*case), "read", today, policy)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = "/".join(frame.filename.split("/")[-3:]) + f":{frame.lineno}"
            prepared.failures.append(CoreFailure(case, f"{type(exc).__name__} at {where}: {frame.line}"))
            continue
        prepared.cases.append(case)
        prepared.expected.append(decision.allowed)
        prepared.reasons.append(decision.codes)
        prepared.codes.update(decision.codes or ("allow",))
    return prepared


def bench_core(prepared: Prepared, snapshot: RegistrySnapshot, policy: Policy, today: date, *,
               seconds: float, max_calls: int, memoized: bool = False) -> Timed:
    """memoized: the gateway's own path, the service's `DecisionMemo` (the facts and decision of a
    question asked before on the same day, under the same policy and registry version, come from
    memory); otherwise every call gathers the facts, classifies them and explains the answer again."""
    if memoized:
        memo = DecisionMemo()

        def core(person: str, document: str) -> bool:
            return memo.decide(snapshot, person, document, "read", today, policy)[1].allowed
    else:
        def core(person: str, document: str) -> bool:
            return decide(snapshot.facts(person, document), "read", today, policy).allowed

    return timed_calls(core, prepared.cases, seconds=seconds, min_calls=len(prepared.cases),
                       max_calls=max_calls)


@dataclass(frozen=True)
class Agreement:
    compared: int
    agreed: int
    cases_covered: int
    examples: list[dict[str, Any]]  # the first few disagreements

    def as_dict(self) -> dict[str, Any]:
        return {"compared": self.compared, "agreed": self.agreed, "disagreed": self.compared - self.agreed,
                "cases_covered": self.cases_covered, "examples": self.examples}


def agreement(prepared: Prepared, answers: Sequence[bool], indices: Iterable[int] | None = None) -> Agreement:
    """Answer i against the decision core's answer to case `indices[i]` (default: i modulo the cases)."""
    total, agreed, examples = len(prepared.cases), 0, []
    order = indices if indices is not None else (i % total for i in range(len(answers)))
    covered: set[int] = set()
    for allowed, case in zip(answers, order, strict=False):
        covered.add(case)
        expected = prepared.expected[case]
        if allowed == expected:
            agreed += 1
        elif len(examples) < 5:
            person, document = prepared.cases[case]
            examples.append({"person": person, "document": document, "core": expected,
                             "core_reasons": list(prepared.reasons[case]), "peer": allowed})
    return Agreement(len(answers), agreed, len(covered), examples)


def bench_naive(prepared: Prepared, snapshot: RegistrySnapshot, today: date, *, seconds: float,
                max_calls: int) -> tuple[Timed, Agreement]:
    """Every case at least once, then on until `seconds`; every answer compared with the core's."""
    naive = NaiveDecider(snapshot, today)
    timed = timed_calls(naive, prepared.cases, seconds=seconds, min_calls=len(prepared.cases),
                        max_calls=max_calls)
    return timed, agreement(prepared, timed.answers)


def bench_cedar(prepared: Prepared, snapshot: RegistrySnapshot, today: date, *, seconds: float,
                max_calls: int) -> tuple[Timed, Agreement]:
    """cedarpy.is_authorized once per decision, like `bench_naive`."""
    cedar = CedarDecider(snapshot, today)
    timed = timed_calls(cedar, prepared.cases, seconds=seconds, min_calls=len(prepared.cases),
                        max_calls=max_calls)
    return timed, agreement(prepared, timed.answers)


def bench_cedar_batch(prepared: Prepared, snapshot: RegistrySnapshot, today: date, *, size: int, seconds: float,
                      max_calls: int) -> tuple[Timed, Agreement]:
    """cedarpy.is_authorized_batch over `size` consecutive cases per call; every batch at least once."""
    cedar = CedarDecider(snapshot, today)
    indices = index_batches(len(prepared.cases), size)
    batches = [[prepared.cases[i] for i in batch] for batch in indices]
    timed = timed_batches(cedar.batch, batches, seconds=seconds, min_calls=len(batches), max_calls=max_calls)
    calls = len(timed.answers) // size
    order = (i for n in range(calls) for i in indices[n % len(indices)])
    return timed, agreement(prepared, timed.answers, order)
