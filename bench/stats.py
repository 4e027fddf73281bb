"""Latency samples reduced to the figures the report prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Summary:
    operations: int
    seconds: float
    per_second: float
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(ordered: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return 0
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def summarize(latencies_ns: Sequence[int], wall_seconds: float) -> Summary:
    ordered = sorted(latencies_ns)
    count = len(ordered)
    us = 1000.0
    return Summary(
        operations=count,
        seconds=round(wall_seconds, 3),
        per_second=round(count / wall_seconds, 1) if wall_seconds > 0 else 0.0,
        p50_us=round(percentile(ordered, 0.50) / us, 1),
        p99_us=round(percentile(ordered, 0.99) / us, 1),
        mean_us=round(sum(ordered) / count / us, 1) if count else 0.0,
        max_us=round(ordered[-1] / us, 1) if count else 0.0,
    )
