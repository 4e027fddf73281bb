"""R1 with the host's writer process (issue #13): decisions are answered only once the writer committed
them; no writer, a failed commit or no acknowledgement in time means 503, never an answer."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway.audit.chain import verify
from gateway.audit.decision_sink import _Instants, _sqlite_instant, chained, serialized
from gateway.audit.log_writer import HEADER, decode, encode, serve_writer, writer_process
from gateway.audit.remote_log import RemoteLog
from gateway.db import ensure_schema, make_engine
from gateway.ports import LogOverloaded, LogUnavailable
from gateway.settings import Settings
from models import DecisionRecord
from tests.audit.log_records import Sink, entry
from tests.rules_registry import rules_bundle
from tests.support import Clock, Gateway, Keys, running_gateway

EVAL = {
    "subject": {"type": "person", "id": "C-OK"},
    "resource": {"type": "document", "id": "D-ESI"},
    "action": {"name": "read"},
}


def _writer_env(db_url: str, directory: Path) -> dict[str, str]:
    """What the writer needs to write where the test's gateway reads: its database, and the directory
    whose development checkpoint key both sign with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return env | {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DOCUMENT_DIR": str(directory / "documents")}


@contextmanager
def _with_writer(db_url: str, directory: Path) -> Iterator[Path]:
    settings = Settings(database_url=db_url)
    engine = make_engine(settings)
    ensure_schema(engine, True)  # the gateway migrates when it starts; the writer only writes
    engine.dispose()
    with writer_process(env=_writer_env(db_url, directory)) as path:
        yield path


def _rows(gw: Gateway) -> list[str]:
    with gw.container.engine.connect() as conn:
        return list(conn.execute(select(DecisionRecord.decision_id).order_by(DecisionRecord.seq)).scalars())


@pytest.fixture
def served(db_url: str, tmp_path: Path, keys: Keys, clock: Clock) -> Iterator[tuple[Path, Gateway]]:
    """A writer process and a gateway that hands it its decisions, on the rules registry."""
    with (
        _with_writer(db_url, tmp_path) as socket_path,
        running_gateway(db_url, tmp_path, keys, clock, log_socket=socket_path) as gw,
    ):
        gw.import_bundle(rules_bundle())
        yield socket_path, gw


def test_decisions_are_committed_by_the_writer_process_before_they_are_answered(
    served: tuple[Path, Gateway],
) -> None:
    socket_path, gw = served
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600  # the gateway's own user only
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    gw.clock.set("2026-06-01T03:00:00+00:00")
    answered = [gw.evaluate("C-OK", "D-ESI")["context"]["decision_id"] for _ in range(3)]
    batch = gw.client.post(
        "/access/v1/evaluations",
        json={"evaluations": [EVAL] * 50},
        headers=gw.keys.auth("authz:evaluate"),
    )
    assert batch.status_code == 200
    answered += [e["context"]["decision_id"] for e in batch.json()["evaluations"]]
    assert _rows(gw) == answered  # every answer has its row, in the order answered
    stats = gw.container.decisions.log.stats()
    assert stats.rows_committed == 53 and stats.queued_rows == 0 and stats.commits >= 4
    assert verify(gw.container.engine, gw.container.signer.public_key).ok  # R2: one chain, unbroken


def test_with_the_writer_gone_no_decision_is_given(db_url: str, tmp_path: Path, keys: Keys, clock: Clock) -> None:
    with ExitStack() as stack:
        writer = stack.enter_context(ExitStack())
        socket_path = writer.enter_context(_with_writer(db_url, tmp_path))
        gw = stack.enter_context(running_gateway(db_url, tmp_path, keys, clock, log_socket=socket_path))
        gw.import_bundle(rules_bundle())
        auth = gw.keys.auth("authz:evaluate")
        assert gw.client.post("/access/v1/evaluation", json=EVAL, headers=auth).status_code == 200
        writer.close()  # the writer stops (its pipe closed): it committed what it held, and takes nothing more
        response = gw.client.post("/access/v1/evaluation", json=EVAL, headers=auth)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "no decision" in response.json()["detail"] and "decision" not in response.json()
        assert len(_rows(gw)) == 1


# --- the writer and its client in one test process --------------------------------------------------


@contextmanager
def _writer_thread(sink: Sink, path: Path) -> Iterator[Path]:
    """serve_writer on a loop of its own (as in its process): a slow commit blocks the writer, never the client."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve_writer(sink, path, stop=stop),))
    thread.start()
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield path
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


def test_what_arrives_during_a_commit_is_committed_together_and_each_caller_answered_after_it(tmp_path: Path) -> None:
    sink = Sink(delay=0.05)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    with _writer_thread(sink, tmp_path / "w.sock") as path:
        log = RemoteLog(path)

        async def scenario() -> None:
            await asyncio.gather(*(log.append([entry(f"E-{i}", at)]) for i in range(20)))

        asyncio.run(scenario())
    assert sorted(e.decision_id for e in sink.committed) == sorted(f"E-{i}" for i in range(20))
    assert len(sink.groups) < 20  # grouped: the frames sent during the first commit made the next
    assert log.stats().rows_committed == 20 and log.stats().commits == len(sink.groups)


def test_a_commit_that_fails_is_refused_to_every_caller_in_it(tmp_path: Path) -> None:
    with _writer_thread(Sink(fail=True), tmp_path / "w.sock") as path:
        log = RemoteLog(path)

        async def scenario() -> None:
            results = await asyncio.gather(
                *(log.append([entry(f"E-{i}", datetime(2026, 6, 1, tzinfo=UTC))]) for i in range(5)),
                return_exceptions=True,
            )
            assert all(isinstance(r, LogUnavailable) and "could not commit" in str(r) for r in results)

        asyncio.run(scenario())
    assert log.stats().rows_committed == 0


def test_no_acknowledgement_within_the_timeout_is_unavailable(tmp_path: Path) -> None:
    with _writer_thread(Sink(delay=1.5), tmp_path / "w.sock") as path:
        log = RemoteLog(path, timeout=0.3)

        async def scenario() -> None:
            started = time.monotonic()
            with pytest.raises(LogUnavailable, match="did not acknowledge within 0.3 s"):
                await log.append([entry("E-1", datetime(2026, 6, 1, tzinfo=UTC))])
            assert time.monotonic() - started < 1.2

        asyncio.run(scenario())


def test_a_writer_that_falls_behind_shows_it_and_new_decisions_are_refused(tmp_path: Path) -> None:
    sink = Sink(delay=0.8)
    with _writer_thread(sink, tmp_path / "w.sock") as path:
        log = RemoteLog(path, max_wait=0.1)
        at = datetime(2026, 6, 1, tzinfo=UTC)

        async def scenario() -> None:
            first = asyncio.create_task(log.append([entry("E-1", at)]))
            await asyncio.sleep(0.3)
            stats = log.stats()
            assert stats.queued_rows == 1 and stats.oldest_wait_seconds >= 0.25
            with pytest.raises(LogOverloaded):
                await log.append([entry("E-2", at)])
            await first
            assert log.stats().queued_rows == 0 and log.stats().oldest_wait_seconds == 0

        asyncio.run(scenario())
    assert [e.decision_id for e in sink.committed] == ["E-1"]  # the refused one was never sent


def test_an_unreadable_frame_is_refused_and_the_connection_still_serves(tmp_path: Path) -> None:
    sink = Sink()
    with _writer_thread(sink, tmp_path / "w.sock") as path:

        async def scenario() -> bytes:
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(HEADER.pack(5, 7) + b"[1,2]")  # a record of two fields
            writer.write(encode(8, [entry("E-1", datetime(2026, 6, 1, tzinfo=UTC))]))
            answers = await reader.readexactly(34)
            writer.close()
            return answers

        answers = asyncio.run(scenario())
    assert answers[:9] == (7).to_bytes(8, "big") + b"\x01"  # refused
    assert answers[17:26] == (8).to_bytes(8, "big") + b"\x00"  # committed
    assert [e.decision_id for e in sink.committed] == ["E-1"]


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))])


@settings(max_examples=150, deadline=None)
@given(
    sub=_TEXT, person=_TEXT, request_id=st.none() | _TEXT, at=st.datetimes(timezones=_ZONES),
    evaluated=st.datetimes(timezones=_ZONES), allowed=st.booleans(), latency=st.integers(0, 2**40),
    facts=st.dictionaries(_TEXT, st.none() | st.integers(-(2**53), 2**53) | _TEXT, max_size=4),
)  # fmt: skip
def test_a_record_crosses_the_socket_unchanged_and_chains_to_the_same_hash(
    sub: str, person: str, request_id: str | None, at: datetime, evaluated: datetime, allowed: bool, latency: int,
    facts: dict[str, object],
) -> None:  # fmt: skip
    record = entry("E-1", at, caller_sub=sub, person_id=person, request_id=request_id, evaluated_at=evaluated,
                    allowed=allowed, latency_us=latency, facts=facts)  # fmt: skip
    frame = encode(9, [record])
    length, request = HEADER.unpack_from(frame)
    [received] = decode(frame[HEADER.size :])
    assert request == 9 and length == len(frame) - HEADER.size
    assert received == serialized(record) and received.evaluated_at.utcoffset() == record.evaluated_at.utcoffset()
    before = chained([record], 0, "0" * 64, _Instants(_sqlite_instant))
    after = chained([received], 0, "0" * 64, _Instants(_sqlite_instant))
    assert before == after  # the same stored values and the same hash as if written in the worker
    assert decode(encode(1, [record, received, record])[HEADER.size :]) == [received] * 3


def test_the_writer_commits_into_the_database_and_the_log_verifies(tmp_path: Path, db_url: str) -> None:
    """The real sink behind the socket, both databases: rows counted and the chain verified."""
    with _with_writer(db_url, tmp_path) as path:
        log = RemoteLog(path)
        at = datetime(2026, 6, 1, tzinfo=UTC)

        async def scenario() -> None:
            await asyncio.gather(*(log.append([entry(f"E-{i}-{j}", at) for j in range(10)]) for i in range(30)))

        asyncio.run(scenario())
    engine = make_engine(Settings(database_url=db_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar() == 300
        from gateway.keys import checkpoint_signer

        signer = checkpoint_signer(Settings(database_url=db_url, document_dir=tmp_path / "documents"))
        assert verify(engine, signer.public_key).ok
    finally:
        engine.dispose()


def test_a_frame_whose_columns_do_not_add_up_is_refused() -> None:
    payload = encode(1, [entry("E-1", datetime(2026, 6, 1, tzinfo=UTC))])[HEADER.size :]
    assert [r.decision_id for r in decode(payload)] == ["E-1"]
    with pytest.raises(ValueError, match="runs past the frame"):
        decode(payload[:-1])
    with pytest.raises(ValueError, match="bytes after its records"):
        decode(payload + b"}")


def test_a_writer_killed_under_load_leaves_every_answered_decision_in_the_log(
    served: tuple[Path, Gateway],
) -> None:
    """kill -9 of the writer alone, with requests in flight: each 200 answer has its row; after it, 503s."""
    socket_path, gw = served
    auth = gw.keys.auth("authz:evaluate")
    answers: list[tuple[int, str | None]] = []

    def ask(count: int) -> None:
        for _ in range(count):
            response = gw.client.post("/access/v1/evaluations", json={"evaluations": [EVAL] * 20}, headers=auth)
            ids = [e["context"]["decision_id"] for e in response.json()["evaluations"]] if response.is_success else []
            answers.extend((response.status_code, i) for i in ids or [None])

    ask(5)
    load = threading.Thread(target=ask, args=(40,))
    load.start()
    time.sleep(0.2)
    [pid] = subprocess.run(["pgrep", "-f", str(socket_path)], capture_output=True, text=True).stdout.split()
    os.kill(int(pid), signal.SIGKILL)
    load.join(60)
    ask(2)
    logged = set(_rows(gw))
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 503} and 503 in statuses  # fail closed once the writer is gone
    answered = [i for status, i in answers if status == 200]
    assert answered and set(answered) <= logged  # never an answer without its row
    assert [status for status, _ in answers[-2:]] == [503, 503]


def test_the_frames_of_one_turn_of_the_loop_reach_the_writer_in_two_groups_at_most(tmp_path: Path) -> None:
    sink = Sink()
    at = datetime(2026, 6, 1, tzinfo=UTC)
    with _writer_thread(sink, tmp_path / "w.sock") as path:
        log = RemoteLog(path)

        async def scenario() -> None:
            await log.append([entry("E-first", at)])  # connected; the next 20 start in one turn
            await asyncio.gather(*(log.append([entry(f"E-{i}", at)]) for i in range(20)))

        asyncio.run(scenario())
    assert sink.groups[0] == 1 and sum(sink.groups[1:]) == 20 and len(sink.groups) <= 3  # [1, 1, 19] or [1, 20]
    assert log.stats().rows_committed == 21 and log.stats().commits == len(sink.groups)
