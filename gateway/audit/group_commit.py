"""Group commit: many decisions, one transaction, one fsync, and still logged before answered.

Callers hand their records to one writer thread per process and wait. The writer takes everything
pending, chains and inserts it in a single transaction (gateway/audit/decision_sink.py), commits, and
only then releases the callers. Under load a commit carries many requests' decisions; alone, a
request waits for nobody. If the commit fails, every caller in it gets the error (and so a 503), never
an answer. The event loop only queues and awaits: chaining, inserting and the commit's fsync happen
on the writer thread, with the GIL released while the database works.

A writer that falls behind is visible (`stats()`: rows queued, the oldest one's wait) and, past
`max_wait` seconds, refuses new records at once (LogOverloaded, a 503 with Retry-After) instead of
letting every request's latency grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from gateway.audit.record import DecisionEntry, Serialized
from gateway.metrics import LOG_COMMIT_ROWS, LOG_COMMIT_SECONDS
from gateway.ports import LogStats, LogUnavailable, refuse_when_behind

log = structlog.get_logger("gateway.decision_log")


class Sink(Protocol):
    def append(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Commit `entries` durably, or raise."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Pending:
    """One caller's records, and the future it awaits, settled by the writer through the caller's loop."""

    entries: Sequence[DecisionEntry | Serialized]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    queued_at: float = field(default_factory=time.monotonic)


def _settle(batch: list[_Pending], error: BaseException | None) -> None:
    for pending in batch:
        if pending.future.done():  # the caller gave up waiting (timeout or disconnect)
            continue
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(LogUnavailable(f"the commit failed: {type(error).__name__}"))


class GroupCommitter:
    """The in-process DecisionLog: `append(entries)` returns once a group commit holding them is done."""

    def __init__(self, sink: Sink, *, max_rows: int = 2000, timeout: float = 30.0, max_wait: float = 0.0):
        self.sink = sink
        self.max_rows = max_rows
        self.timeout = timeout
        self.max_wait = max_wait  # 0: never shed
        self._queue: deque[_Pending | None] = deque()
        self._ready = threading.Condition()
        self._queued_rows = 0
        self._in_flight_since: float | None = None  # queued_at of the oldest record being committed
        self._thread: threading.Thread | None = None
        self.commits = 0
        self.rows_committed = 0

    async def append(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Return once `entries` are committed; raise LogUnavailable otherwise. The event loop serves
        other requests meanwhile."""
        if not entries:
            return
        refuse_when_behind(self.oldest_wait, self.max_wait)
        self._ensure_started()
        loop = asyncio.get_running_loop()
        pending = _Pending(entries, loop.create_future(), loop)
        with self._ready:
            self._queue.append(pending)
            self._queued_rows += len(entries)
            self._ready.notify()
        try:
            async with asyncio.timeout(self.timeout):
                await pending.future
        except TimeoutError as exc:
            raise LogUnavailable(f"the decision log did not commit within {self.timeout} s") from exc

    def oldest_wait(self) -> float:
        oldest = self._in_flight_since
        with contextlib.suppress(IndexError):
            head = self._queue[0]
            if head is not None and oldest is None:
                oldest = head.queued_at
        return 0.0 if oldest is None else time.monotonic() - oldest

    def stats(self) -> LogStats:
        return LogStats(self._queued_rows, self.oldest_wait(), self.commits, self.rows_committed)

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._ready:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _take(self) -> tuple[list[_Pending], bool]:
        """Everything queued, up to `max_rows` records (at least one caller's), waiting for the first."""
        with self._ready:
            while not self._queue:
                self._ready.wait()
            batch: list[_Pending] = []
            count, stop = 0, False
            while self._queue:
                head = self._queue[0]
                if head is None:
                    self._queue.popleft()
                    stop = True
                    break
                if batch and count + len(head.entries) > self.max_rows:
                    break
                self._queue.popleft()
                batch.append(head)
                count += len(head.entries)
            if batch:
                self._in_flight_since = batch[0].queued_at
            return batch, stop

    def _commit(self, batch: list[_Pending]) -> None:
        entries = [entry for pending in batch for entry in pending.entries]
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            self.sink.append(entries)
            self.commits += 1
            self.rows_committed += len(entries)
            LOG_COMMIT_SECONDS.observe(time.perf_counter() - started)
            LOG_COMMIT_ROWS.observe(len(entries))
        except BaseException as exc:  # every waiting caller learns it; none is answered
            log.error("decision_log.commit_failed", error=type(exc).__name__, rows=len(entries), requests=len(batch))
            error = exc
        finally:
            with self._ready:
                self._queued_rows -= len(entries)
                self._in_flight_since = None
            by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Pending]] = defaultdict(list)
            for pending in batch:
                by_loop[pending.loop].append(pending)
            for loop, settled in by_loop.items():  # one wake-up per loop, not one per request
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
                    loop.call_soon_threadsafe(_settle, settled, error)

    def close(self) -> None:
        """Flush what is pending, then stop the writer."""
        if self._thread is not None and self._thread.is_alive():
            with self._ready:
                self._queue.append(None)
                self._ready.notify()
            self._thread.join(timeout=self.timeout)
        if self._thread is None or not self._thread.is_alive():  # a writer still stuck in a commit keeps it
            self.sink.close()
