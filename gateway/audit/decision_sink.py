"""The decision log's write path: chain a group of records and insert them in one transaction.

This is the hot path of every answer (R1), so it skips SQLAlchemy Core: each record is serialized
once, with orjson, into the canonical JSON its hash covers (gateway/audit/chain.py, unchanged: the
same bytes `entry_hash` recomputes when verifying), and its JSON columns are stored as those same
bytes; the rows go to the database as prepared tuples through the driver's own `executemany` (psycopg
sends them in pipeline mode). The statements run on one pooled connection kept by the writer thread:
SQLite takes its write lock with BEGIN IMMEDIATE, PostgreSQL locks the chain head's row, so the
chain order is the commit order across processes. A failure rolls back, drops the connection (the
next group takes a fresh one) and reaches every caller of the group: no answer without its row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from gateway.audit.chain import Signer, checkpoint_message
from gateway.audit.record import DecisionEntry, Serialized, serialized

COLUMNS = (
    "decision_id",
    "schema_version",
    "logged_at",
    "evaluated_at",
    "caller_sub",
    "caller_client",
    "request_id",
    "channel",
    "person_id",
    "document_id",
    "action",
    "allowed",
    "reasons",
    "reason_codes",
    "policy_version",
    "facts",
    "inputs",
    "simulation",
    "latency_us",
    "chain_index",
    "prev_hash",
    "hash",
)
_SORTED = orjson.OPT_SORT_KEYS
SQLITE_CHECKPOINT_PAGES = 10_000
_Fragment = orjson.Fragment


class _Instants:
    """Each instant as hashed (UTC isoformat) and as stored by the dialect. UTC instants, which are nearly
    all of them, are remembered by value (at most `size`): a group's records share their instants, and
    the writer process gets equal instants as one object (log_writer.decode). Others are converted
    each time: two local times of one zone compare equal across a change of offset.

    The hashed text is orjson's, the same characters as `datetime.isoformat` for every UTC instant
    (tests/audit/test_log_handover.py) at a tenth of its cost; the stored form is cut from it."""

    def __init__(self, stored: Callable[[datetime, str], Any], size: int = 4096):
        self.stored = stored
        self.size = size
        self.seen: dict[datetime, tuple[str, Any]] = {}

    def __call__(self, value: datetime) -> tuple[str, Any]:
        if value.tzinfo is not UTC:
            utc = value.astimezone(UTC)
            iso = _iso(utc)
            return iso, self.stored(utc, iso)
        converted = self.seen.get(value)
        if converted is None:
            iso = _iso(value)
            converted = (iso, self.stored(value, iso))
            if len(self.seen) >= self.size:
                self.seen.clear()
            self.seen[value] = converted
        return converted


def _iso(utc: datetime) -> str:
    """`utc.isoformat()`: microseconds only when not zero, then +00:00."""
    if type(utc) is not datetime:  # a subclass may write itself otherwise
        return utc.isoformat()
    return orjson.dumps(utc)[1:-1].decode()


def _sqlite_instant(utc: datetime, iso: str | None = None) -> str:
    """SQLAlchemy's SQLite DATETIME text (naive UTC, always with microseconds), so that reads,
    comparisons and the audit windows see exactly what they saw before; cut from `iso`, `utc`'s
    isoformat, when given."""
    if iso is None or type(utc) is not datetime:  # a subclass's text may not be the standard one
        return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    return f"{iso[:10]} {iso[11:19]}{iso[19:26] if len(iso) == 32 else '.000000'}"


def chained(
    entries: Sequence[DecisionEntry | Serialized], index: int, prev: str, instant: _Instants
) -> tuple[list[tuple[Any, ...]], int, str]:
    """Rows (in COLUMNS order) for `entries` after chain entry `index` with hash `prev`, and the new head.

    JSON goes to the driver as text: SQLite keeps it so, psycopg sends it untyped for the json column."""
    rows = []
    for entry in entries:
        e = serialized(entry)
        index += 1
        logged_iso, logged = instant(e.logged_at)
        evaluated_iso, evaluated = instant(e.evaluated_at)
        inputs = e.inputs
        content = {
            "decision_id": e.decision_id,
            "schema_version": e.schema_version,
            "logged_at": logged_iso,
            "evaluated_at": evaluated_iso,
            "caller_sub": e.caller_sub,
            "caller_client": e.caller_client,
            "request_id": e.request_id,
            "channel": e.channel,
            "person_id": e.person_id,
            "document_id": e.document_id,
            "action": e.action,
            "allowed": e.allowed,
            "reasons": _Fragment(e.reasons),
            "reason_codes": e.reason_codes,
            "policy_version": e.policy_version,
            "facts": _Fragment(e.facts),
            "inputs": None if inputs is None else _Fragment(inputs),
            "simulation": e.simulation,
            "latency_us": e.latency_us,
            "chain_index": index,
        }
        digest = hashlib.sha256(prev.encode() + b"\n" + orjson.dumps(content, option=_SORTED)).hexdigest()
        rows.append((
            e.decision_id, e.schema_version, logged, evaluated, e.caller_sub, e.caller_client, e.request_id,
            e.channel, e.person_id, e.document_id, e.action, e.allowed, e.reasons.decode(), e.reason_codes,
            e.policy_version, e.facts.decode(), None if inputs is None else inputs.decode(),
            e.simulation, e.latency_us, index, prev, digest,
        ))  # fmt: skip
        prev = digest
    return rows, index, prev


class DecisionSink:
    """Appends groups of records to the decision chain of one database (SQLite or PostgreSQL).

    Used by one thread at a time (the log writer's)."""

    def __init__(self, engine: Engine, signer: Signer | None):
        self.engine = engine
        self.signer = signer
        self.sqlite = engine.dialect.name == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self._insert = f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
        lock = "" if self.sqlite else " FOR UPDATE"  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        self._head = f"SELECT chain_index, hash FROM chain_heads WHERE chain = 'decisions'{lock}"
        self._move = f"UPDATE chain_heads SET chain_index = {mark}, hash = {mark} WHERE chain = 'decisions'"
        self._checkpoint = (
            "INSERT INTO checkpoints (chain, chain_index, hash, signed_at, key_id, signature) "
            f"VALUES ('decisions', {mark}, {mark}, {mark}, {mark}, {mark})"
        )
        self._instants = _Instants(_sqlite_instant if self.sqlite else _aware)
        self._raw: Any = None  # the pooled connection this sink keeps, once taken

    def append(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Chain and insert `entries`, committed (durable) on return; raises the driver's error otherwise."""
        if self._raw is None:
            self._raw = self.engine.raw_connection()
            if self.sqlite:  # checkpoint every 40 MB of WAL, not 4: a page changed by many commits is
                # copied into the database once (the writer's CPU a row, batches of 100: 69 -> 57 µs)
                self._raw.driver_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        conn = self._raw.driver_connection
        try:
            cursor = conn.cursor()
            if self.sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(self._head)
            start, prev = cursor.fetchone()
            rows, index, head = chained(entries, int(start), prev, self._instants)
            cursor.executemany(self._insert, rows)
            cursor.execute(self._move, (index, head))
            if self.signer is not None:  # R2: a checkpoint at every multiple of `every`, which verify requires
                every = self.signer.every
                for at in range(-(-(int(start) + 1) // every) * every, index + 1, every):
                    row = rows[at - int(start) - 1]
                    cursor.execute(self._checkpoint, self._signed(at, row[-1], self.signer))
            if self.sqlite:
                cursor.execute("COMMIT")
            else:
                conn.commit()
        except BaseException:
            self._drop()
            raise

    def _signed(self, index: int, head: str, signer: Signer) -> tuple[Any, ...]:
        signed_at = datetime.now(UTC)
        signature = signer.key.sign(checkpoint_message("decisions", index, head, signed_at))
        stored = _sqlite_instant(signed_at) if self.sqlite else signed_at
        return index, head, stored, signer.key_id, base64.b64encode(signature).decode()

    def _drop(self) -> None:
        """After a failure: roll back if the connection still answers, and never use it again."""
        raw, self._raw = self._raw, None
        with contextlib.suppress(Exception):  # a broken connection: invalidating it is all that is left
            raw.driver_connection.rollback()
        raw.invalidate()

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            raw.close()


def _aware(utc: datetime, _iso: str) -> datetime:
    return utc
