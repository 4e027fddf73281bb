"""The decision-log hand-over (issue #13): how frames and acknowledgements travel between a worker and
the writer process, and how the writer reads a frame's instants."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.decision_sink import _Instants, _sqlite_instant, serialized
from gateway.audit.log_writer import ACK, HEADER, LogWriter, _Frame, decode, encode, event_loop_factory
from gateway.audit.remote_log import RemoteLog, _Acknowledgements
from tests.audit.log_records import Sink, entry


class _Transport:
    """The worker's end of the socket: what was written, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


def test_the_first_frame_of_a_turn_leaves_at_once_and_the_others_together_at_its_end() -> None:
    async def scenario() -> list[bytes]:
        connection = _Acknowledgements(RemoteLog(Path("unused")), asyncio.get_running_loop())
        transport = _Transport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        for frame in (b"a", b"b", b"c", b"d"):  # four requests decided in one turn of the loop
            connection.send(frame)
        assert transport.writes == [b"a"]  # the writer starts on the first while the others are made
        await asyncio.sleep(0)  # the turn ends
        assert transport.writes == [b"a", b"bcd"]
        connection.send(b"e")  # a new turn: at once again
        return transport.writes

    assert asyncio.run(scenario()) == [b"a", b"bcd", b"e"]


class _Peer:
    """A worker's connection as the writer sees it: what it was sent."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def send(self, acknowledgements: bytes) -> None:
        self.writes.append(acknowledgements)


@pytest.mark.parametrize("fail", [False, True])
def test_a_group_is_acknowledged_with_one_write_to_each_worker(fail: bool) -> None:
    writer = LogWriter(Sink(fail=fail))
    one, two = _Peer(), _Peer()
    at = datetime(2026, 6, 1, tzinfo=UTC)
    frames = [_Frame(peer, request, [serialized(entry(f"E-{request}", at))])  # type: ignore[arg-type]
              for peer, request in ((one, 1), (two, 7), (one, 2), (one, 3))]  # fmt: skip
    writer.pending = frames
    writer.flush()
    status = 1 if fail else 0
    commit = 0 if fail else 1
    assert [list(ACK.iter_unpack(w)) for w in one.writes] == [[(1, status, commit), (2, status, commit),
                                                               (3, status, commit)]]  # fmt: skip
    assert [list(ACK.iter_unpack(w)) for w in two.writes] == [[(7, status, commit)]]


def test_the_records_of_a_frame_share_their_instants_and_utc_conversions_are_remembered() -> None:
    at = datetime(2026, 6, 1, 3, 4, 5, 6, tzinfo=UTC)
    frame = encode(1, [entry(f"E-{i}", at, evaluated_at=at) for i in range(3)])
    records = decode(frame[HEADER.size :])
    assert len({id(r.logged_at) for r in records} | {id(r.evaluated_at) for r in records}) == 1
    instants = _Instants(_sqlite_instant, size=2)
    first = instants(records[0].logged_at)
    assert first == ("2026-06-01T03:04:05.000006+00:00", "2026-06-01 03:04:05.000006")
    assert instants(at) is first  # an equal instant, remembered
    instants(at + timedelta(seconds=1))
    instants(at + timedelta(seconds=2))  # past `size`: forgotten, not grown
    assert len(instants.seen) <= 2 and instants(at) == first


def test_local_times_of_a_zone_are_converted_each_time_across_a_change_of_offset() -> None:
    """01:30 happens twice in New York on 2026-11-01; the two compare equal, yet they are an hour apart."""
    zone = ZoneInfo("America/New_York")
    early, late = datetime(2026, 11, 1, 1, 30, tzinfo=zone), datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=zone)
    assert early == late
    instants = _Instants(_sqlite_instant)
    assert instants(early)[0] == "2026-11-01T05:30:00+00:00"
    assert instants(late)[0] == "2026-11-01T06:30:00+00:00"


_ZONES = st.sampled_from([UTC, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")])


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES))
def test_an_instant_is_hashed_and_stored_as_the_standard_library_writes_it(value: datetime) -> None:
    """The chain hashes `isoformat()` of the UTC instant (gateway/audit/chain.py recomputes it so when
    verifying) and SQLite stores SQLAlchemy's naive text; the writer makes both from orjson's text."""
    utc = value.astimezone(UTC)
    stored = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    assert _Instants(_sqlite_instant)(value) == (utc.isoformat(), stored)


def test_an_instant_of_a_datetime_subclass_is_written_by_its_own_isoformat() -> None:
    class Stamp(datetime):
        def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
            return "stamp:" + super().isoformat(sep, timespec)

    stamp = Stamp(2028, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert _Instants(_sqlite_instant)(stamp) == ("stamp:2028-02-29T23:59:59+00:00", "stamp:2028-02-29 23:59:59.000000")


def test_the_writer_runs_on_uvloop_where_it_is_installed_and_on_asyncio_where_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvloop

    assert event_loop_factory() is uvloop.new_event_loop
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an interpreter without it raises: ImportError
    assert event_loop_factory() is None
