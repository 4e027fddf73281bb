"""An in-process measurement loop: every call timed on its own, bounded in count and in time."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.cases import Case
from bench.stats import Summary, summarize

Decider = Callable[[str, str], bool]


@dataclass(frozen=True)
class Timed:
    summary: Summary
    answers: list[bool]  # the answer of call i, for case i modulo the number of cases


def timed_calls(decide: Decider, cases: Sequence[Case], *, seconds: float, min_calls: int,
                max_calls: int) -> Timed:
    """Call `decide` over `cases` in order (cycling) until `seconds` passed and at least `min_calls`
    were made, never more than `max_calls`."""
    latencies: list[int] = []
    answers: list[bool] = []
    clock = time.perf_counter_ns
    total = len(cases)
    gc.collect()
    started = clock()
    deadline = started + int(seconds * 1e9)
    n = 0
    while n < max_calls and (n < min_calls or clock() < deadline):
        person, document = cases[n % total]
        t0 = clock()
        allowed = decide(person, document)
        latencies.append(clock() - t0)
        answers.append(allowed)
        n += 1
    wall = (clock() - started) / 1e9
    return Timed(summarize(latencies, wall), answers)


BatchDecider = Callable[[Sequence[Case]], list[bool]]


def index_batches(total: int, size: int) -> list[list[int]]:
    """Case indices in consecutive runs of `size`, cycling past the end so that every batch is full."""
    count = max(1, -(-total // size))
    return [[(b * size + i) % total for i in range(size)] for b in range(count)]


def timed_batches(decide: BatchDecider, batches: Sequence[Sequence[Case]], *, seconds: float, min_calls: int,
                  max_calls: int) -> Timed:
    """Like `timed_calls`, one call per batch: the summary counts calls (latency per call), the answers
    are flattened in order."""
    latencies: list[int] = []
    answers: list[bool] = []
    clock = time.perf_counter_ns
    total = len(batches)
    gc.collect()
    started = clock()
    deadline = started + int(seconds * 1e9)
    n = 0
    while n < max_calls and (n < min_calls or clock() < deadline):
        batch = batches[n % total]
        t0 = clock()
        allowed = decide(batch)
        latencies.append(clock() - t0)
        answers.extend(allowed)
        n += 1
    wall = (clock() - started) / 1e9
    return Timed(summarize(latencies, wall), answers)
