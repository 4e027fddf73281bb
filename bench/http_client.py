"""An HTTP/1.1 load generator: N keep-alive connections to 127.0.0.1, each sending one prepared request
at a time and waiting for the whole answer. Closed loop by default (as fast as answers come); open loop
at a fixed rate on request, with latency counted from each request's due time.

It writes prepared request bytes and reads answers by Content-Length on asyncio streams (uvloop when
installed), so that the client costs little CPU beside the server on a small machine; a general
client such as httpx would spend more time per request than the bare FastAPI floor does.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from bench.cases import Case
from bench.servers import HOST
from bench.stats import Summary, summarize

ALLOW_MARK = b'"decision":true'
DENY_MARK = b'"decision":false'


@dataclass
class LoadResult:
    summary: Summary
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    allowed: int = 0
    decisions: int = 0  # in the 200 answers checked: one per evaluation, the batch's size per batch
    disagreements: int = 0  # decisions that differ from the expected ones
    client_cpu_seconds: float = 0.0
    timed_out: bool = False  # answers still missing a minute after the deadline: connections abandoned
    error_bodies: dict[int, str] = field(default_factory=dict)  # the first body of each status but 200
    body_bytes: int = 0  # of the 200 answers
    wrong_lengths: int = 0  # 200 answers whose body is not `expected_length` bytes long

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)


def evaluation_requests(port: int, token: str, cases: Sequence[Case],
                        path: str = "/access/v1/evaluation") -> list[bytes]:
    """One complete POST per case: the AuthZEN body of api.md, a bearer token, keep-alive."""
    out = []
    for person, document in cases:
        body = json.dumps({"subject": {"type": "person", "id": person},
                           "resource": {"type": "document", "id": document},
                           "action": {"name": "read"}}, separators=(",", ":")).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


def batch_requests(port: int, token: str, batches: Sequence[Sequence[Case]],
                   path: str = "/access/v1/evaluations") -> list[bytes]:
    """One complete POST per batch: AuthZEN `evaluations`, each item a whole (subject, resource, action)."""
    out = []
    for batch in batches:
        items = [{"subject": {"type": "person", "id": person}, "resource": {"type": "document", "id": document},
                  "action": {"name": "read"}} for person, document in batch]
        body = json.dumps({"evaluations": items}, separators=(",", ":")).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


def get_request(port: int, path: str, token: str | None = None) -> bytes:
    """One complete keep-alive GET, with a bearer token or without."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n".encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server will close the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close = 0, False, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length), close
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return status, b"".join(parts), close


Expected = bool | tuple[bool, ...]  # the decision of a single evaluation, or those of a batch in order


def _check(result: LoadResult, body: bytes, want: Expected) -> None:
    if isinstance(want, tuple):
        try:
            got = tuple(item["decision"] is True for item in orjson.loads(body)["evaluations"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            got = ()
        result.allowed += sum(got)
        result.decisions += len(got)
        result.disagreements += sum(a != b for a, b in zip(got, want, strict=False)) + abs(len(got) - len(want))
        return
    allowed = ALLOW_MARK in body
    result.allowed += allowed
    result.decisions += 1
    if allowed != want or (not allowed and DENY_MARK not in body):
        result.disagreements += 1


class _Load:
    def __init__(self, port: int, requests: Sequence[bytes], expected: Sequence[Expected] | None,
                 deadline_ns: int, max_requests: int, expected_length: int | None = None,
                 interval_ns: int | None = None):
        self.port, self.requests, self.expected = port, requests, expected
        self.expected_length = expected_length
        self.deadline_ns, self.budget = deadline_ns, max_requests
        self.latencies: list[int] = []
        self.result = LoadResult(summarize([], 0.0))
        # Open loop: request k is due at start + k * interval, whichever connection is free sends it, and
        # its latency counts from when it was due (a server that falls behind is not let off).
        self.interval_ns, self.start_ns, self.next_slot = interval_ns, time.perf_counter_ns(), 0

    async def _due(self) -> int | None:
        """Open loop: wait for the next slot; its due time, or None once it falls after the deadline."""
        assert self.interval_ns is not None
        due = self.start_ns + self.next_slot * self.interval_ns
        self.next_slot += 1
        if due >= self.deadline_ns:
            return None
        delay = due - time.perf_counter_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        return due

    async def connection(self, first: int, stride: int) -> None:
        """One keep-alive connection walking the requests from `first` in steps of `stride`."""
        clock, result, total = time.perf_counter_ns, self.result, len(self.requests)
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        i = first
        try:
            while self.budget > 0 and clock() < self.deadline_ns:
                due = await self._due() if self.interval_ns else None
                if self.interval_ns and due is None:
                    return
                self.budget -= 1
                index = i % total
                i += stride
                try:
                    stream = stream or await asyncio.open_connection(HOST, self.port)
                    t0 = clock() if due is None else due
                    stream[1].write(self.requests[index])
                    status, body, close = await _read_answer(stream[0])
                    self.latencies.append(clock() - t0)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    result.transport_errors += 1
                    stream = _close(stream)
                    await asyncio.sleep(0.01)  # a refused or broken connection must not spin
                    continue
                result.statuses[status] += 1
                if status != 200 and status not in result.error_bodies:
                    result.error_bodies[status] = body[:400].decode(errors="replace")
                if status == 200:
                    result.body_bytes += len(body)
                    result.wrong_lengths += self.expected_length is not None and len(body) != self.expected_length
                if status == 200 and self.expected is not None:
                    _check(result, body, self.expected[index])
                if close:
                    stream = _close(stream)
        finally:
            _close(stream)


def _close(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if stream is not None:
        stream[1].close()


async def _drive(load: _Load, concurrency: int, limit: float) -> None:
    async with asyncio.timeout(limit), asyncio.TaskGroup() as group:
        for c in range(concurrency):
            group.create_task(load.connection(c, concurrency))


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run_load(port: int, requests: Sequence[bytes], *, concurrency: int, seconds: float, max_requests: int,
             expected: Sequence[Expected] | None = None, expected_length: int | None = None,
             rate: float | None = None) -> LoadResult:
    """Drive the server for `seconds` (answers in flight at the deadline are awaited) or `max_requests`;
    with `expected_length`, count the 200 answers whose body has another length. Closed loop (each
    connection sends as soon as its answer arrived), or with `rate`, open loop at `rate` requests a
    second over the same connections, latency counted from each request's due time."""
    cpu_before = _own_cpu()
    started = time.perf_counter_ns()
    interval = int(1e9 / rate) if rate else None
    load = _Load(port, requests, expected, started + int(seconds * 1e9), max_requests, expected_length, interval)
    with _runner() as runner:
        try:
            runner.run(_drive(load, concurrency, seconds + 60.0))
        except TimeoutError:
            load.result.timed_out = True
    wall = (time.perf_counter_ns() - started) / 1e9
    load.result.summary = summarize(load.latencies, wall)
    load.result.client_cpu_seconds = round(_own_cpu() - cpu_before, 3)
    return load.result


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
