"""Measurement 13: decision-log write throughput in this process, the gateway's path against the old one.

On a fresh database with the gateway's schema (`make_engine`, `create_schema`): realistic records, made
by `DecisionEntry.of` from the decision core's answers to the prepared cases, committed in transactions
of 1 and of 100, either through the gateway's write path (`DecisionSink.append`: serialized once with
orjson, chained over those bytes, raw DB-API `executemany`) or through the SQLAlchemy Core path it
replaced (`gateway.audit.chain.append`: the same chain, Core parameter processing); both chain every row.
Each configuration runs to its time limit or row bound, in two halves ordered sink, core, core, sink
(after a short untimed warm-up), so that a drift of the machine or of the files falls on both alike;
rows per second are rows over the time spent inside the transactions, and CPU µs a row is the writing
thread's CPU time (time.thread_time) over its rows: an upper bound of the GIL it holds, since SQLite's
own work (and psycopg's waits) run with the GIL released. `serialize_us_per_row` is `chained()` alone:
the Python work a row costs on the sink's path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

from bench.inprocess import Prepared
from bench.stats import Summary, summarize
from gateway.audit.chain import GENESIS, append, verify
from gateway.audit.decision_sink import DecisionSink, _Instants, _sqlite_instant, chained
from gateway.audit.log_writer import encode
from gateway.audit.record import DecisionEntry
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
PATHS = ("sink", "core")  # the gateway's write path; the SQLAlchemy Core path before it
Say = Callable[[str], None]


@dataclass(frozen=True)
class WriteResult:
    backend: str
    path: str
    batch: int
    summary: Summary  # operations = transactions; latencies per transaction
    rows: int
    cpu_seconds: float

    @property
    def key(self) -> str:
        return f"{self.backend}_{self.path}_batch_{self.batch}"

    @property
    def rows_per_second(self) -> float:
        return round(self.rows / self.summary.seconds, 1) if self.summary.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "path": self.path, "rows_per_transaction": self.batch, "rows": self.rows,
                "rows_per_second": self.rows_per_second,
                "cpu_us_per_row": round(self.cpu_seconds * 1e6 / self.rows, 1) if self.rows else None,
                "transactions": self.summary.as_dict()}


def entry_templates(prepared: Prepared, snapshot: RegistrySnapshot, policy: Policy, today: date,
                    limit: int = 2000) -> list[DecisionEntry]:
    """Records as `DecisionService.evaluate` makes them, one per prepared case (up to `limit`)."""
    now = datetime.now(UTC)
    out = []
    for person, document in prepared.cases[:limit]:
        facts = snapshot.facts(person, document)
        decision = decide(facts, "read", today, policy)
        out.append(DecisionEntry.of(
            decision_id="", logged_at=now, evaluated_at=now, caller_sub="bench-pep", caller_client="bench",
            request_id=uuid.uuid4().hex, channel="authzen", person_id=person, document_id=document,
            action="read", allowed=decision.allowed, reasons=[r.as_dict() for r in decision.reasons],
            policy_version=policy.version, facts={**decision.facts_used, "registry_version": snapshot.version},
            inputs=facts_record(facts), simulation=False, latency_us=180))
    return out


class _Entries:
    """Fresh records from the templates: a new decision id, and one time per transaction, as the service makes them."""

    def __init__(self, templates: list[DecisionEntry]):
        self.templates, self.next = templates, 0

    def take(self, count: int) -> list[DecisionEntry]:
        now, out = datetime.now(UTC), []
        for _ in range(count):
            template = self.templates[self.next % len(self.templates)]
            out.append(template._replace(decision_id=new_ulid(), logged_at=now, evaluated_at=now))
            self.next += 1
        return out


def _write(engine: Engine, sink: DecisionSink, entries: _Entries, *, path: str, batch: int, seconds: float,
           max_rows: int) -> tuple[list[int], int, float]:
    """Transactions of `batch` rows until `seconds` passed or `max_rows` were written: (latencies, rows, CPU s)."""
    latencies: list[int] = []
    clock, written, cpu = time.perf_counter_ns, 0, 0.0
    deadline = clock() + int(seconds * 1e9)
    while written + batch <= max_rows and clock() < deadline:
        chunk = entries.take(batch)  # made before the clock starts: the service has them ready too
        rows = [e.as_row() for e in chunk] if path == "core" else None
        c0, t0 = time.thread_time(), clock()
        if rows is None:
            sink.append(chunk)
        else:
            with engine.begin() as conn:
                append(conn, "decisions", rows, None)
        latencies.append(clock() - t0)
        cpu += time.thread_time() - c0
        written += batch
    return latencies, written, cpu


def serialize_us_per_row(templates: list[DecisionEntry], rows: int = 20_000) -> float:
    """`chained()` alone, 100 records a call: the Python work of one row on the sink's path (SQLite's)."""
    entries = _Entries(templates)
    groups = [entries.take(100) for _ in range(rows // 100)]
    t0 = time.perf_counter()
    for group in groups:
        chained(group, 0, GENESIS, _Instants(_sqlite_instant))
    return round((time.perf_counter() - t0) * 1e6 / rows, 2)


def handover_us_per_row(templates: list[DecisionEntry], rows: int = 20_000) -> float:
    """What a serving process does a row when the writer process owns the log (`serve`): `encode()`, 100
    records a frame, in the process's CPU time. This is the log path's share of the requests'
    interpreter lock; chaining and inserting run in the writer process, under a lock of its own."""
    entries = _Entries(templates)
    groups = [entries.take(100) for _ in range(rows // 100)]
    c0 = time.thread_time()
    for request, group in enumerate(groups):
        encode(request, group)
    return round((time.thread_time() - c0) * 1e6 / rows, 2)


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


def bench_log_writes(url: str, backend: str, templates: list[DecisionEntry], *, seconds: float,
                     max_rows: int) -> list[WriteResult]:
    """Every batch size, sink then core, on one fresh database; checks the rows landed."""
    engine = make_engine(Settings(database_url=url, db_pool_size=2))
    sink = DecisionSink(engine, None)
    results = []
    try:
        create_schema(engine)
        entries = _Entries(templates)
        warmup = _write(engine, sink, entries, path="sink", batch=1, seconds=min(0.5, seconds / 2),
                        max_rows=max_rows)[1]  # the files grow to their working size first
        for batch in BATCHES:
            measured: dict[str, tuple[list[int], int, float]] = {p: ([], 0, 0.0) for p in PATHS}
            for path in (*PATHS, *reversed(PATHS)):  # ABBA: a drift over time falls on both alike
                latencies, written, cpu = _write(engine, sink, entries, path=path, batch=batch, seconds=seconds / 2,
                                                 max_rows=max_rows // 2)
                before = measured[path]
                measured[path] = (before[0] + latencies, before[1] + written, before[2] + cpu)
            for path in PATHS:
                latencies, written, cpu = measured[path]
                results.append(WriteResult(backend, path, batch, summarize(latencies, sum(latencies) / 1e9),
                                           written, cpu))
        sink.close()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(DECISIONS)).scalar_one()
        if stored != warmup + sum(r.rows for r in results):
            raise RuntimeError(f"{backend}: {stored} rows in decisions, {warmup + sum(r.rows for r in results)} "
                               "written")
        report = verify(engine, None)
        if not report.ok:  # both paths extend one chain: every hash must be what verification recomputes
            raise RuntimeError(f"{backend}: the chain does not verify: {report.as_dict().get('first_bad')}")
    finally:
        sink.close()
        engine.dispose()
    return results
