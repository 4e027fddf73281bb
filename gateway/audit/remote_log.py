"""A worker's DecisionLog when the host's writer process owns the decision log (`serve`).

`append` sends the records to the writer (gateway/audit/log_writer.py) over its Unix socket and
returns once the writer acknowledges the commit that holds them. No acknowledgement (the writer is
down, refuses, fails to commit, or takes longer than `timeout`) raises LogUnavailable, and the
request is answered 503: never an answer without its row. The event loop only writes a frame and
awaits a future; the acknowledgements are read by the loop's own protocol, so no thread competes with
the requests for the interpreter lock.

A writer that falls behind is visible (`stats()`: rows sent and not yet acknowledged, the oldest
one's wait) and, past `max_wait` seconds, new records are refused at once (LogOverloaded: 503 with
Retry-After), as with the in-process writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.audit.log_writer import ACK, encode
from gateway.audit.record import DecisionEntry, Serialized
from gateway.ports import LogStats, LogUnavailable, refuse_when_behind


@dataclass(slots=True)
class _Waiting:
    future: asyncio.Future[None]
    rows: int
    sent_at: float


class _Acknowledgements(asyncio.Protocol):
    """One connection to the writer: settles the futures of the frames sent on it."""

    def __init__(self, owner: RemoteLog, loop: asyncio.AbstractEventLoop):
        self.owner = owner
        self.loop = loop
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sent: set[int] = set()  # requests sent on this connection and not yet acknowledged
        self.lost = False
        self.outbox: list[bytes] = []  # frames made after the first of this turn of the event loop
        self.turn = False  # a frame went out in this turn: the next ones wait for its end

    def send(self, frame: bytes) -> None:
        """The first frame of a turn of the event loop leaves at once, so that the writer starts on it
        while the turn's other requests are decided; those frames leave together at the end of the
        turn (one system call here, one wake-up in the writer), and meanwhile the writer's commit of the
        first groups what arrived during it."""
        if self.turn:
            self.outbox.append(frame)
            return
        self.turn = True
        self.loop.call_soon(self.flush)
        self._write(frame)

    def flush(self) -> None:
        self.turn = False
        if self.outbox:
            frames, self.outbox = self.outbox, []
            self._write(b"".join(frames))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        # else: connection_lost fails every request in `sent`, these included

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        usable = len(buffer) - len(buffer) % ACK.size
        for request, status, commit in ACK.iter_unpack(bytes(buffer[:usable])):
            self.sent.discard(request)
            self.owner.settle(request, status == 0, commit)
        del buffer[:usable]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for request in self.sent:
            self.owner.fail(request, "the decision-log writer closed the connection before acknowledging")
        self.sent.clear()


@dataclass
class RemoteLog:
    """The DecisionLog over the writer process's socket at `path`."""

    path: Path
    timeout: float = 30.0
    max_wait: float = 0.0  # 0: never shed
    commits: int = 0
    rows_committed: int = 0
    _waiting: dict[int, _Waiting] = field(default_factory=dict)  # in the order sent: the first is the oldest
    _connection: _Acknowledgements | None = None
    _next: int = 0
    _last_commit: int = 0
    _watchdog: asyncio.TimerHandle | None = None
    _watchdog_loop: asyncio.AbstractEventLoop | None = None

    async def append(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Return once the writer committed `entries`; raise LogUnavailable otherwise."""
        if not entries:
            return
        refuse_when_behind(self.oldest_wait, self.max_wait)
        connection = await self._connected()
        self._next += 1
        request = self._next
        waiting = _Waiting(connection.loop.create_future(), len(entries), time.monotonic())
        self._waiting[request] = waiting
        if self._watchdog is None or self._watchdog_loop is not connection.loop:
            self._watchdog_loop = connection.loop
            self._watchdog = connection.loop.call_later(self._interval, self._expire, connection.loop)
        try:
            connection.sent.add(request)
            connection.send(encode(request, entries))
            await waiting.future
        finally:
            self._waiting.pop(request, None)
            connection.sent.discard(request)

    @property
    def _interval(self) -> float:
        return min(1.0, self.timeout / 4)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer for every request (an `asyncio.timeout` each cost more than the rest of the hand-over):
        what has waited `timeout` seconds is refused, and the caller answers 503."""
        self._watchdog = None
        now = time.monotonic()
        for waiting in list(self._waiting.values()):  # in the order sent: the first younger one ends it
            if now - waiting.sent_at < self.timeout:
                break
            if not waiting.future.done() and waiting.future.get_loop() is loop:
                waiting.future.set_exception(
                    LogUnavailable(f"the decision-log writer did not acknowledge within {self.timeout} s")
                )
        if self._waiting:
            self._watchdog = loop.call_later(self._interval, self._expire, loop)

    def settle(self, request: int, committed: bool, commit: int) -> None:
        waiting = self._waiting.get(request)
        if committed:
            if commit != self._last_commit:
                self._last_commit = commit
                self.commits += 1
            self.rows_committed += waiting.rows if waiting else 0
        if waiting is None or waiting.future.done():
            return  # the caller gave up waiting (timeout or disconnect)
        if committed:
            waiting.future.set_result(None)
        else:
            waiting.future.set_exception(LogUnavailable("the decision-log writer could not commit"))

    def fail(self, request: int, why: str) -> None:
        waiting = self._waiting.get(request)
        if waiting is not None and not waiting.future.done():
            waiting.future.set_exception(LogUnavailable(why))

    async def _connected(self) -> _Acknowledgements:
        loop = asyncio.get_running_loop()
        connection = self._connection
        if connection is not None and not connection.lost and connection.loop is loop:
            return connection
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await loop.create_unix_connection(lambda: _Acknowledgements(self, loop), str(self.path))
        except (OSError, TimeoutError) as exc:
            raise LogUnavailable(f"the decision-log writer cannot be reached: {type(exc).__name__}") from exc
        current = self._connection
        if current is not None and not current.lost and current.loop is loop:  # another request connected first
            connection.transport.close()  # type: ignore[union-attr]
            return current
        self._connection = connection
        return connection

    def oldest_wait(self) -> float:
        for waiting in self._waiting.values():
            return time.monotonic() - waiting.sent_at
        return 0.0

    def stats(self) -> LogStats:
        queued = sum(w.rows for w in list(self._waiting.values()))
        return LogStats(queued, self.oldest_wait(), self.commits, self.rows_committed)

    def close(self) -> None:
        """Nothing is pending here once the requests are answered: the writer commits what it has."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed already
                connection.transport.close()
