"""Measurement 13: decision-log write throughput in this process, hash chain on versus off.

On a fresh database with the gateway's schema (`make_engine`, `create_schema`): realistic rows, made
by `decision_row` from the decision core's answers to the prepared cases, committed in transactions of
1 and of 100 rows, either through `gateway.audit.chain.append` (chain on: the head row read and locked,
every row hashed, the head updated) or through a plain INSERT (chain off: `chain_index` counted here,
`prev_hash` and `hash` left empty). Each configuration runs to its time limit or row bound, in two
halves ordered on, off, off, on (after a short untimed warm-up), so that a drift of the machine or of
the files falls on both alike; rows per second are rows over the time spent inside the transactions.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text

from bench.inprocess import Prepared
from bench.stats import Summary, summarize
from gateway.audit.chain import append
from gateway.audit.writer import decision_row
from gateway.db import create_schema, make_engine
from gateway.decision.engine import decide
from gateway.decision.facts import facts_record
from gateway.decision.policy import Policy
from gateway.ids import new_ulid
from gateway.registry.snapshot import RegistrySnapshot
from gateway.settings import Settings
from models import DecisionRecord

DECISIONS = DecisionRecord.__table__  # type: ignore[attr-defined]
BATCHES = (1, 100)
Say = Callable[[str], None]


@dataclass(frozen=True)
class WriteResult:
    backend: str
    chain: bool
    batch: int
    summary: Summary  # operations = transactions; latencies per transaction
    rows: int

    @property
    def key(self) -> str:
        return f"{self.backend}_chain_{'on' if self.chain else 'off'}_batch_{self.batch}"

    @property
    def rows_per_second(self) -> float:
        return round(self.rows / self.summary.seconds, 1) if self.summary.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "chain": self.chain, "rows_per_transaction": self.batch,
                "rows": self.rows, "rows_per_second": self.rows_per_second, "transactions": self.summary.as_dict()}


def row_templates(prepared: Prepared, snapshot: RegistrySnapshot, policy: Policy, today: date,
                  limit: int = 2000) -> list[dict[str, Any]]:
    """Rows as `DecisionService.evaluate` writes them, one per prepared case (up to `limit`)."""
    now = datetime.now(UTC)
    out = []
    for person, document in prepared.cases[:limit]:
        facts = snapshot.facts(person, document)
        decision = decide(facts, "read", today, policy)
        out.append(decision_row(
            decision_id="", logged_at=now, evaluated_at=now, caller_sub="bench-pep", caller_client="bench",
            request_id=uuid.uuid4().hex, channel="authzen", person_id=person, document_id=document,
            action="read", allowed=decision.allowed, reasons=[r.as_dict() for r in decision.reasons],
            policy_version=policy.version, facts={**decision.facts_used, "registry_version": snapshot.version},
            inputs=facts_record(facts), simulation=False, latency_us=180))
    return out


class _Rows:
    """Fresh row dicts from the templates: a new decision id and time each, as the service makes them."""

    def __init__(self, templates: list[dict[str, Any]]):
        self.templates, self.next = templates, 0

    def take(self, count: int) -> list[dict[str, Any]]:
        now, out = datetime.now(UTC), []
        for _ in range(count):
            row = dict(self.templates[self.next % len(self.templates)])
            row["decision_id"], row["logged_at"], row["evaluated_at"] = new_ulid(), now, now
            out.append(row)
            self.next += 1
        return out


def _write(engine: Engine, rows: _Rows, *, chain: bool, batch: int, seconds: float, max_rows: int,
           next_index: Callable[[], int]) -> tuple[list[int], int]:
    """Transactions of `batch` rows until `seconds` passed or `max_rows` were written: (latencies, rows)."""
    latencies: list[int] = []
    clock, written = time.perf_counter_ns, 0
    deadline = clock() + int(seconds * 1e9)
    while written + batch <= max_rows and clock() < deadline:
        chunk = rows.take(batch)  # made before the clock starts: the service has them ready too
        if not chain:
            for row in chunk:
                row["chain_index"] = next_index()
        t0 = clock()
        with engine.begin() as conn:
            if chain:
                append(conn, "decisions", chunk, None)
            else:
                conn.execute(insert(DECISIONS), chunk)
        latencies.append(clock() - t0)
        written += batch
    return latencies, written


@contextmanager
def sqlite_database(root: Path) -> Iterator[str]:
    yield f"sqlite:///{root / 'log-writes.db'}"


@contextmanager
def postgres_database(admin_url: str, purpose: str) -> Iterator[str]:
    """A new database on the server of `admin_url` (which must allow CREATE DATABASE), dropped afterwards."""
    name = f"cg_bench_{purpose}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_problem(admin_url: str) -> str | None:
    """None if PostgreSQL answers at `admin_url`, else why not (in a few words)."""
    engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure means: skip PostgreSQL, and say why
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        engine.dispose()


def bench_log_writes(url: str, backend: str, templates: list[dict[str, Any]], *, seconds: float,
                     max_rows: int) -> list[WriteResult]:
    """Every batch size, chain on then off, on one fresh database; checks the rows landed."""
    engine = make_engine(Settings(database_url=url, db_pool_size=2))
    results = []
    try:
        create_schema(engine)
        rows = _Rows(templates)
        next_index = itertools.count(10**12).__next__  # chain off: indices far above the chain's own
        warmup = _write(engine, rows, chain=True, batch=1, seconds=min(0.5, seconds / 2), max_rows=max_rows,
                        next_index=next_index)[1]  # the files grow to their working size first
        for batch in BATCHES:
            measured: dict[bool, tuple[list[int], int]] = {True: ([], 0), False: ([], 0)}
            for chain in (True, False, False, True):  # ABBA: a drift over time falls on both alike
                latencies, written = _write(engine, rows, chain=chain, batch=batch, seconds=seconds / 2,
                                            max_rows=max_rows // 2, next_index=next_index)
                measured[chain] = (measured[chain][0] + latencies, measured[chain][1] + written)
            for chain in (True, False):
                latencies, written = measured[chain]
                results.append(WriteResult(backend, chain, batch, summarize(latencies, sum(latencies) / 1e9),
                                           written))
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(DECISIONS)).scalar_one()
        if stored != warmup + sum(r.rows for r in results):
            raise RuntimeError(f"{backend}: {stored} rows in decisions, {warmup + sum(r.rows for r in results)} "
                               "written")
    finally:
        engine.dispose()
    return results
