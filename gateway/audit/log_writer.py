"""The decision-log writer process: one per host, owning the decision chain's inserts for every worker.

Why a process: in a worker, the log writer thread and the event loop share one interpreter lock.
Under load the writer waited for the lock between every statement of its commit, so a group commit of
ten rows took several times its own CPU time and every answer waited for it. Here the writer has its
own interpreter (and, on a machine with two cores or more, its own core), the workers' event loops
only hand records over, and `serve --workers N` shares one writer: SQLite keeps a single writer and
the chain one head per host.

The promise is unchanged: a worker answers only after the writer acknowledged the commit that holds
its records (gateway/audit/remote_log.py), and a worker that gets no acknowledgement answers 503.

Wire format, on a Unix socket that only the gateway's own user may use (mode 0600, and the peer's uid
checked): a worker sends frames `>IQ` (payload length, request number) whose payload is a JSON header
(`>I` length, then one array a record: its fields in `Serialized` order, the JSON columns replaced by
their lengths) followed by the JSON columns' bytes; the writer answers each frame with `>QBQ` (request
number, 0 committed or 1 not, the commit's number). Frames that arrive while a commit runs make the next
group commit together, as in the in-process GroupCommitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog

from gateway.audit.decision_sink import Serialized, serialized
from gateway.audit.record import DecisionEntry

log = structlog.get_logger("gateway.log_writer")

HEADER = struct.Struct(">IQ")  # payload length, request number
ACK = struct.Struct(">QBQ")  # request number, 0 committed / 1 not, commit number
MAX_PAYLOAD = 256 * 1024 * 1024  # a batch of 100,000 records is well below this
_HEAD = struct.Struct(">I")  # the JSON header's length, inside the payload
_INSTANTS = (Serialized._fields.index("logged_at"), Serialized._fields.index("evaluated_at"))
_REASONS, _INPUTS = Serialized._fields.index("reasons"), Serialized._fields.index("inputs")
_COLUMNS = (_REASONS, Serialized._fields.index("facts"), _INPUTS)  # JSON columns: sent as bytes, after the header
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def encode(request: int, entries: Sequence[DecisionEntry | Serialized]) -> bytes:
    """One frame. The worker serializes each record's JSON columns (once, keys sorted: the bytes the
    chain hashes and the row stores) and sends them as they are, after a small JSON header holding the
    other fields and the columns' lengths; so the writer neither parses nor writes them again."""
    header: list[list[Any]] = []
    blobs: list[bytes] = []
    for entry in entries:
        e = serialized(entry)
        inputs = -1 if e.inputs is None else len(e.inputs)
        header.append([*e[:_REASONS], len(e.reasons), e.reason_codes, e.policy_version, len(e.facts), inputs, *e[-2:]])
        blobs += (e.reasons, e.facts, e.inputs or b"")
    head = orjson.dumps(header)
    payload = b"".join([_HEAD.pack(len(head)), head, *blobs])
    return HEADER.pack(len(payload), request) + payload


def decode(payload: bytes) -> list[Serialized]:
    """The records of a frame's payload, as the worker serialized them; ValueError if it does not add up."""
    (length,) = _HEAD.unpack_from(payload)
    at = _HEAD.size + length
    records = []
    instants: dict[str, datetime] = {}  # a request's records share their instants: each text is read once
    for fields in orjson.loads(payload[_HEAD.size : at]):
        if len(fields) != len(Serialized._fields):
            raise ValueError(f"a record has {len(fields)} fields, not {len(Serialized._fields)}")
        for i in _INSTANTS:
            text = fields[i]
            instant = instants.get(text)
            if instant is None:
                instant = instants[text] = datetime.fromisoformat(text)
            fields[i] = instant
        for i in _COLUMNS:
            size = fields[i]
            if size == -1 and i == _INPUTS:
                fields[i] = None
                continue
            if not isinstance(size, int) or size < 0 or at + size > len(payload):
                raise ValueError("a record's JSON column runs past the frame")
            fields[i], at = payload[at : at + size], at + size
        records.append(Serialized(*fields))
    if at != len(payload):
        raise ValueError("the frame holds bytes after its records")
    return records


class SerializedSink(Protocol):
    """Where the writer commits what workers hand it: records already serialized (DecisionSink)."""

    def append(self, entries: Sequence[Serialized]) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Frame:
    connection: _Connection
    request: int
    entries: list[Serialized]


class _Connection(asyncio.Protocol):
    """One worker's connection: frames in, acknowledgements out."""

    def __init__(self, writer: LogWriter):
        self.writer = writer
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        uid = _peer_uid(sock) if sock is not None else None
        if uid is not None and uid != os.getuid():
            log.error("log_writer.peer_refused", uid=uid)
            transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= HEADER.size:
            length, request = HEADER.unpack_from(buffer)
            if length > MAX_PAYLOAD:
                log.error("log_writer.frame_refused", bytes=length)
                self.close()
                return
            end = HEADER.size + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[HEADER.size : end])
            del buffer[:end]
            try:
                entries = decode(payload)
            except (ValueError, TypeError, IndexError, struct.error, orjson.JSONDecodeError) as exc:
                log.error("log_writer.frame_unreadable", error=type(exc).__name__)
                self.acknowledge(request, False, 0)
                continue
            self.writer.queue(_Frame(self, request, entries))

    def acknowledge(self, request: int, committed: bool, commit: int) -> None:
        self.send(ACK.pack(request, 0 if committed else 1, commit))

    def send(self, acknowledgements: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(acknowledgements)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _peer_uid(sock: socket.socket) -> int | None:
    try:
        _pid, uid, _gid = _CREDENTIALS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size))
    except (OSError, AttributeError):  # not Linux: the socket's mode (0600) is the guard
        return None
    return uid


class LogWriter:
    """Group commit on one thread: what arrived while the last commit ran is the next commit."""

    def __init__(self, sink: SerializedSink, *, max_rows: int = 5000):
        self.sink = sink
        self.max_rows = max_rows
        self.pending: list[_Frame] = []
        self.scheduled = False
        self.commits = 0
        self.rows = 0

    def queue(self, frame: _Frame) -> None:
        self.pending.append(frame)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Commit everything pending, in groups of at most `max_rows` records (at least one frame each),
        and acknowledge each frame once its group is committed, or failed."""
        self.scheduled = False
        pending, self.pending = self.pending, []
        group: list[_Frame] = []
        rows = 0
        for frame in pending:
            if group and rows + len(frame.entries) > self.max_rows:
                self._commit(group, rows)
                group, rows = [], 0
            group.append(frame)
            rows += len(frame.entries)
        if group:
            self._commit(group, rows)

    def _commit(self, group: list[_Frame], rows: int) -> None:
        committed = True
        try:
            self.sink.append([entry for frame in group for entry in frame.entries])
            self.commits += 1
            self.rows += rows
        except Exception as exc:  # every frame of the group is refused; none of its records is answered
            log.error("log_writer.commit_failed", error=type(exc).__name__, rows=rows, frames=len(group))
            committed = False
        status = 0 if committed else 1
        answers: dict[_Connection, list[bytes]] = {}  # one write a connection: the worker reads them at once
        for frame in group:
            answers.setdefault(frame.connection, []).append(ACK.pack(frame.request, status, self.commits))
        for connection, acks in answers.items():
            connection.send(b"".join(acks))


async def serve_writer(
    sink: SerializedSink, path: Path, *, attached: bool = False, stop: asyncio.Event | None = None
) -> None:
    """Listen on `path`, then commit what is pending and stop: on SIGTERM or SIGINT, or, `attached`
    (started by `serve`), when standard input closes. An attached writer ignores those signals: a
    Ctrl-C or a service manager's SIGTERM reaches every process of the group, and `serve` is still
    draining requests that need the writer's acknowledgements; it closes the pipe once they are done,
    and if it dies the pipe closes with it. Given `stop`, that event alone ends it (tests)."""
    loop = asyncio.get_running_loop()
    writer = LogWriter(sink)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by a writer that was killed
    umask = os.umask(0o177)  # the socket is created 0600: the gateway's own user only
    try:
        server = await loop.create_unix_server(lambda: _Connection(writer), str(path))
    finally:
        os.umask(umask)
    if stop is not None:
        pass
    elif attached:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        loop.add_reader(sys.stdin.fileno(), _on_stdin, stop)
    else:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    log.info("log_writer.ready", socket=str(path), pid=os.getpid())
    await stop.wait()
    server.close()
    await asyncio.sleep(0)  # frames already read are queued; commit them before leaving
    writer.flush()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    log.info("log_writer.stopped", commits=writer.commits, rows=writer.rows)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed (with uvicorn[standard], as the workers' loop is): the writer
    handles a frame and an acknowledgement per request, and the standard loop's Python machinery
    (selector, handles, transports) took about a sixth of its interpreter's time under 16 connections.
    None (asyncio's own loop) where it is not."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _on_stdin(stop: asyncio.Event) -> None:
    if not os.read(sys.stdin.fileno(), 4096):  # end of file: `serve` closed the pipe, or is gone
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stop.set()


class WriterFailed(RuntimeError):
    """The writer process did not come up."""


@contextlib.contextmanager
def writer_process(
    directory: Path | None = None, *, env: dict[str, str] | None = None, start_timeout: float = 60.0
) -> Iterator[Path]:
    """Run `clearance-gateway log-writer` beside this process (this environment unless `env` is given:
    the same database and checkpoint key) on a socket in a private directory; yield its path once it
    accepts connections; on leaving, close its standard input (it commits what it holds and exits) and wait."""
    private = Path(tempfile.mkdtemp(prefix="clearance-gateway-log-", dir=directory))  # mode 0700
    path = private / "writer.sock"
    command = [sys.executable, "-m", "gateway.cli", "log-writer", "--socket", str(path), "--attached"]
    # The command line is this interpreter and fixed words; stderr is shared: its log lines join ours.
    # Its standard input is a pipe from here: closing it (or dying) stops the writer.
    process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)  # noqa: S603
    try:
        _wait_listening(process, path, start_timeout)
        yield path
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the writer commits what it holds, then exits
        if process.poll() is None:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(private, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WriterFailed(
                f"the decision-log writer exited with status {process.returncode}: its log lines above say why"
            )
        if path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
            finally:
                probe.close()
        time.sleep(0.05)
    process.kill()
    raise WriterFailed(f"the decision-log writer did not listen on {path} within {timeout:g} s")
