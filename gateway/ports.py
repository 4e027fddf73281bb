"""What the decision service needs from the world, as small interfaces (the adapters live at the edge).

- `FactSource`: the registry as snapshots of facts (gateway/registry/facts_source.py);
- `DecisionLog`: where decision records go before any answer (gateway/audit/group_commit.py);
- `Clock`: the time, passed in, never read deep inside.

Their errors are domain errors that name no database driver: the HTTP layer maps them to 503.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.audit.record import DecisionEntry, Serialized
from gateway.decision.facts import Facts


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class FactsUnavailable(Exception):
    """The registry cannot be read now."""


class LogUnavailable(Exception):
    """The decision log cannot confirm a write: nothing may be answered."""


class LogOverloaded(LogUnavailable):
    """The log writer is behind by more than the configured wait: refused before queueing more."""

    def __init__(self, waited: float, limit: float):
        super().__init__(f"the oldest decision waiting for the log has waited {waited:.2f} s (limit {limit} s)")
        self.retry_after = max(1, round(limit))


def refuse_when_behind(oldest_wait: Callable[[], float], max_wait: float) -> None:
    """A log writer's load shedding: past `max_wait` seconds of wait for the oldest record (0: never),
    new records are refused at once instead of queued."""
    if max_wait:
        waited = oldest_wait()
        if waited > max_wait:
            raise LogOverloaded(waited, max_wait)


class FactSnapshot(Protocol):
    """One consistent version of the registry's facts."""

    @property
    def version(self) -> int: ...

    def changes_before(self, at: datetime | None) -> int:
        """How many recorded changes come before `at` (None: all): the same count, the same facts."""
        ...

    def facts(self, person_id: str, document_id: str, at: datetime | None = None) -> Facts:
        """The facts of (person, document) in force at `at` (None: now)."""
        ...


class FactSource(Protocol):
    def fresh(self) -> FactSnapshot | None:
        """The current snapshot if known without waiting on a server (the event loop may call it)."""
        ...

    def current(self) -> FactSnapshot:
        """The latest snapshot; may wait on the database; raises FactsUnavailable."""
        ...


@dataclass(frozen=True, slots=True)
class LogStats:
    queued_rows: int  # handed to the writer, not yet committed
    oldest_wait_seconds: float  # how long the oldest of them has waited (0 when none)
    commits: int
    rows_committed: int


class DecisionLog(Protocol):
    async def append(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Return once `entries` are durably committed; raise LogUnavailable otherwise."""
        ...

    def stats(self) -> LogStats: ...

    def close(self) -> None:
        """Commit what is pending, then stop."""
        ...
