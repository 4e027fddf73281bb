"""Group commit: many decisions, one transaction, one fsync, and still logged before answered.

Callers hand their rows to one writer thread per process and wait. The writer takes everything
pending, chains and inserts it in a single transaction, commits, and only then releases the callers.
Under load a commit carries many requests' decisions; alone, a request waits for nobody. If the
commit fails, every caller in it gets the error (and so a 503), never an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine

from gateway.audit.chain import Signer, append
from gateway.metrics import LOG_COMMIT_ROWS, LOG_COMMIT_SECONDS

log = structlog.get_logger("gateway.decision_log")


class LogTimeout(Exception):
    """The writer did not confirm the commit in time."""


@dataclass
class _Pending:
    """One caller's rows, and the future it awaits, settled by the writer through the caller's loop."""

    rows: list[dict[str, Any]]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    error: BaseException | None = None

    def settle(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.future, self.error)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the caller gave up waiting (timeout or disconnect)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommitter:
    def __init__(self, engine: Engine, signer: Signer | None, max_rows: int = 2000, timeout: float = 30.0):
        self.engine = engine
        self.signer = signer
        self.max_rows = max_rows
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.commits = 0
        self.rows_committed = 0

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once `rows` are committed; raise the commit's error otherwise. The event loop
        serves other requests meanwhile."""
        if not rows:
            return
        self._ensure_started()
        loop = asyncio.get_running_loop()
        pending = _Pending(rows, loop.create_future(), loop)
        self._queue.put(pending)
        try:
            async with asyncio.timeout(self.timeout):
                await pending.future
        except TimeoutError as exc:
            raise LogTimeout(f"the decision log did not commit within {self.timeout} s") from exc

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, count, stop = [first], len(first.rows), False
            while count < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                count += len(item.rows)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        rows = [row for pending in batch for row in pending.rows]
        started = time.perf_counter()
        try:
            with self.engine.begin() as conn:
                append(conn, "decisions", rows, self.signer)
            self.commits += 1
            self.rows_committed += len(rows)
            LOG_COMMIT_SECONDS.observe(time.perf_counter() - started)
            LOG_COMMIT_ROWS.observe(len(rows))
        except BaseException as exc:  # every waiting caller learns it; none is answered
            log.error("decision_log.commit_failed", error=type(exc).__name__, rows=len(rows), requests=len(batch))
            for pending in batch:
                pending.error = exc
        finally:
            for pending in batch:
                pending.settle()

    def close(self) -> None:
        """Flush what is pending, then stop the writer."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=self.timeout)
