"""Measurement 14: audit list latency on a large decision log in PostgreSQL (--audit-rows N).

A fresh database with the gateway's schema is filled in SQL (bench/audit_rows.py), then each filter's
first page, and its third page reached through the cursor, is read with exactly the code GET
/v1/audit/decisions runs: `read_cursor`, a read-only transaction on a pooled connection
(`gateway.api.deps.reading`), `list_decisions` (the query, and shaping the items), `make_cursor`.
Every page is timed from the cursor in to the cursor out, repeated (at least 5 times, at most 30, up to
about 1.5 s per page) for p50 and p99. The EXPLAIN of every first page is kept; the person's is printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from bench.audit_rows import Filled, Samples, fill_decisions, pick_samples
from bench.log_writes import postgres_database
from bench.stats import summarize
from gateway.api.deps import reading
from gateway.audit.cursor import make_cursor, read_cursor
from gateway.audit.query import DecisionFilter, _decisions, list_decisions
from gateway.db import create_schema, make_engine
from gateway.settings import Settings

LIMIT = 50  # the API's default page size
MIN_REPEATS, MAX_REPEATS, BUDGET_SECONDS = 5, 30, 1.5
Say = Callable[[str], None]


def filters(s: Samples) -> dict[str, DecisionFilter]:
    return {
        f"person={s.person}": DecisionFilter(person=s.person),
        f"document={s.document}": DecisionFilter(document=s.document),
        "decision=deny": DecisionFilter(allowed=False),
        f"reason={s.reason}": DecisionFilter(reason=s.reason),
        f"designation={s.designation}": DecisionFilter(designation=s.designation),
        f"caller={s.caller}": DecisionFilter(caller=s.caller),
        f"since/until {s.since:%Y-%m-%d}..{s.until:%Y-%m-%d}": DecisionFilter(since=s.since, until=s.until),
        "no filter": DecisionFilter(),
    }


def _page(engine: Engine, filters: DecisionFilter, cursor: str | None) -> tuple[int, str | None]:
    """What the route does for one page: (items, next cursor)."""
    key = filters.key()
    below = None if cursor is None else read_cursor("decisions", cursor, key)
    items, next_seq = reading(engine, lambda conn: list_decisions(conn, filters, LIMIT, below))
    return len(items), None if next_seq is None else make_cursor("decisions", next_seq, key)


def explain(conn: Connection, filters: DecisionFilter, below: int | None = None) -> str:
    """EXPLAIN of the page query as the API sends it: same SQL text, same bound parameters."""
    compiled = _decisions(filters, below, LIMIT + 1).compile(dialect=conn.dialect)
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN (FORMAT TEXT) " + str(compiled),
                                                            compiled.params))


def scan_of(plan: str) -> str:
    """The first scan node of a plan, e.g. `Index Scan Backward using ix_decisions_person on decisions`."""
    for line in plan.splitlines():
        text = line.strip().removeprefix("->").strip()
        if "Scan" in text:
            return text.split("  (")[0]
    return plan.splitlines()[0] if plan else ""


def _timed(engine: Engine, filters: DecisionFilter, cursor: str | None) -> dict[str, Any]:
    latencies, items = [], 0
    started = time.perf_counter()
    while len(latencies) < MAX_REPEATS and (len(latencies) < MIN_REPEATS
                                            or time.perf_counter() - started < BUDGET_SECONDS):
        t0 = time.perf_counter_ns()
        items, _ = _page(engine, filters, cursor)
        latencies.append(time.perf_counter_ns() - t0)
    return {**summarize(latencies, sum(latencies) / 1e9).as_dict(), "items": items}


@dataclass
class AuditOutcome:
    filled: Filled
    samples: Samples
    pages: dict[str, dict[str, Any]]  # filter -> {"first": ..., "third": ..., "scan": ...}
    person_plan: str

    def as_dict(self) -> dict[str, Any]:
        s = self.samples
        plan = self.person_plan
        return {
            "rows": self.filled.rows,
            "fill": self.filled.as_dict(),
            "page_size": LIMIT,
            "samples": {"person": s.person, "document": s.document, "designation": s.designation,
                        "caller": s.caller, "reason": s.reason, "since": s.since.isoformat(),
                        "until": s.until.isoformat()},
            "pages": self.pages,
            "person_explain": plan,
            "person_uses_index": "Index" in plan and "Seq Scan on decisions" not in plan,
        }


def bench_audit_queries(admin_url: str, rows: int, say: Say) -> AuditOutcome:
    with postgres_database(admin_url, "audit") as url:
        engine = make_engine(Settings(database_url=url, db_pool_size=2))
        try:
            create_schema(engine)
            with engine.begin() as conn:
                filled = fill_decisions(conn, rows)
            say(f"   {rows:,} rows generated in {filled.insert_seconds:.1f} s, indexed in "
                f"{filled.index_seconds:.1f} s ({filled.table_mb:,.0f} MB table, {filled.indexes_mb:,.0f} MB "
                "indexes); timing the pages")
            with engine.connect() as conn:
                samples = pick_samples(conn, rows)
            pages: dict[str, dict[str, Any]] = {}
            for name, wanted in filters(samples).items():
                first = _timed(engine, wanted, None)
                _, cursor = _page(engine, wanted, None)
                if cursor is not None:
                    _, cursor = _page(engine, wanted, cursor)
                third = _timed(engine, wanted, cursor) if cursor is not None else None
                with engine.connect() as conn:
                    plan = explain(conn, wanted)
                pages[name] = {"first": first, "third": third, "scan": scan_of(plan),
                               "seq_scan": "Seq Scan on decisions" in plan}
            with engine.connect() as conn:
                person_plan = explain(conn, DecisionFilter(person=samples.person))
        finally:
            engine.dispose()
    return AuditOutcome(filled, samples, pages, person_plan)
