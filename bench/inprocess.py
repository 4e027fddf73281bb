"""Measurements 1 and 2, in this process: the decision core and the naive PyCasbin baseline."""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.cases import Case
from bench.naive import NaiveDecider
from bench.timing import Timed, timed_calls
from gateway.decision.engine import decide
from gateway.decision.policy import Policy
from gateway.registry.snapshot import RegistrySnapshot


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
               seconds: float, max_calls: int) -> Timed:
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


def bench_naive(prepared: Prepared, snapshot: RegistrySnapshot, today: date, *, seconds: float,
                max_calls: int) -> tuple[Timed, Agreement]:
    """Every case at least once, then on until `seconds`; every answer compared with the core's."""
    naive = NaiveDecider(snapshot, today)
    timed = timed_calls(naive, prepared.cases, seconds=seconds, min_calls=len(prepared.cases),
                        max_calls=max_calls)
    total, agreed, examples = len(prepared.cases), 0, []
    for i, allowed in enumerate(timed.answers):
        expected = prepared.expected[i % total]
        if allowed == expected:
            agreed += 1
        elif len(examples) < 5:
            person, document = prepared.cases[i % total]
            examples.append({"person": person, "document": document, "core": expected,
                             "core_reasons": list(prepared.reasons[i % total]), "naive": allowed})
    agreement = Agreement(len(timed.answers), agreed, min(total, len(timed.answers)), examples)
    return timed, agreement
