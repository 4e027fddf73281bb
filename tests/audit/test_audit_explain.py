"""The audit list's page queries on a 1,000,000-row decision log (PostgreSQL): no filter reads the table.

The rows are generated in SQL by bench/audit_rows.py (the generator `python -m bench --audit-rows`
uses). A page is read by `list_decisions`, as GET /v1/audit/decisions reads it, and every statement it
sends (a time window's page sends a few) is explained with its very SQL and bound parameters:
the first page, and the third page reached by following the cursor twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

from bench.audit_rows import Samples, fill_decisions, pick_samples
from gateway.audit.query import DecisionFilter, list_decisions
from gateway.db import create_schema, make_engine
from gateway.settings import Settings
from tests.support import fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS = 1_000_000
LIMIT = 50  # the API's default page size

FILTERS: dict[str, Callable[[Samples], DecisionFilter]] = {
    "person": lambda s: DecisionFilter(person=s.person),
    "document": lambda s: DecisionFilter(document=s.document),
    "decision=deny": lambda s: DecisionFilter(allowed=False),
    "reason": lambda s: DecisionFilter(reason=s.reason),
    "designation": lambda s: DecisionFilter(designation=s.designation),
    "caller": lambda s: DecisionFilter(caller=s.caller),
    "since/until": lambda s: DecisionFilter(since=s.since, until=s.until),
    "none": lambda s: DecisionFilter(),
}


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Samples]]:
    with fresh_database("postgresql", tmp_path_factory.mktemp("explain")) as url:
        engine = make_engine(Settings(database_url=url, db_pool_size=1))
        try:
            create_schema(engine)
            with engine.begin() as conn:
                fill_decisions(conn, ROWS)  # ends with ANALYZE
            with engine.connect() as conn:
                samples = pick_samples(conn, ROWS)
            yield engine, samples
        finally:
            engine.dispose()


def _third_page_below(conn: Connection, filters: DecisionFilter) -> int:
    below: int | None = None
    for _ in range(2):
        _, below = list_decisions(conn, filters, LIMIT, below)
        assert below is not None, "the sample filter matches fewer than three pages"
    return below


@dataclass(frozen=True)
class Explained:
    """One statement a page sent, and what EXPLAIN ANALYZE saw it read from `decisions`."""

    sql: str
    plan: dict[str, Any]

    def nodes(self, node: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        node = self.plan if node is None else node
        yield node
        for child in node.get("Plans", []):
            yield from self.nodes(child)

    @property
    def rows_read(self) -> int:
        """Rows of `decisions` its scans produced or discarded (a bitmap's rows are counted at the heap)."""
        return sum(
            (n["Actual Rows"] + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0))
            * n["Actual Loops"]
            for n in self.nodes()
            if n.get("Relation Name") == "decisions"
        )

    @property
    def rows_removed(self) -> int:
        return sum(n.get("Rows Removed by Filter", 0) * n["Actual Loops"] for n in self.nodes())

    @property
    def buffers(self) -> int:
        return int(self.plan["Shared Hit Blocks"] + self.plan["Shared Read Blocks"])

    @property
    def is_page(self) -> bool:
        """The statement that returns the page's rows (the others learn where they lie)."""
        return "decisions.decision_id" in self.sql

    def text(self) -> str:
        return f"{self.rows_read:,} rows read, {self.buffers:,} buffers:\n{self.sql}"


def page_statements(conn: Connection, filters: DecisionFilter, below: int | None) -> list[tuple[str, Any]]:
    """The statements `list_decisions` sends for one page, with their bound parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        list_decisions(conn, filters, LIMIT, below)
    finally:
        event.remove(conn, "before_cursor_execute", record)
    return sent


def explain(conn: Connection, filters: DecisionFilter, below: int | None) -> str:
    """The plans of the page's statements as the API sends them: same SQL text, same bound parameters."""
    plans = []
    for statement, parameters in page_statements(conn, filters, below):
        plans += [row[0] for row in conn.exec_driver_sql("EXPLAIN (FORMAT TEXT) " + statement, parameters)]
    return "\n".join(plans)


def explain_analyze(conn: Connection, filters: DecisionFilter, below: int | None) -> list[Explained]:
    explained = []
    for statement, parameters in page_statements(conn, filters, below):
        [[result]] = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
        explained.append(Explained(statement, result[0]["Plan"]))
    return explained


def test_the_million_row_log_pages_by_index_under_every_filter(big_log: tuple[Engine, Samples]) -> None:
    """One test over every filter and page, so that one worker fills the million rows (two tests would
    each fill them on a worker of their own); every failing filter and page is reported together."""
    engine, samples = big_log
    failures = [
        failure
        for page in ("first", "third")
        for failure in [*_seq_scans(engine, samples, page), *_window_reads_more_than_its_rows(engine, samples, page)]
    ]
    assert not failures, "\n\n".join(failures)


def _seq_scans(engine: Engine, samples: Samples, page: str) -> list[str]:
    """No audit filter reads the whole decisions table: its page statements plan no Seq Scan."""
    failures = []
    for name, make in FILTERS.items():
        filters = make(samples)
        with engine.connect() as conn:
            below = None if page == "first" else _third_page_below(conn, filters)
            plan = explain(conn, filters, below)
        if "Seq Scan on decisions" in plan:
            failures.append(f"{name}, {page} page plans a Seq Scan:\n{plan}")
    return failures


def _window_reads_more_than_its_rows(engine: Engine, samples: Samples, page: str) -> list[str]:
    """A week about 700,000 rows before the newest: its page statement reads little more than its own
    rows. To start there, the first page learns the exact seq range of the window's rows, reading them
    once along ix_decisions_logged_at (about 19,000 here, each with its heap row); later pages start
    below the cursor and read their own rows only. Nothing reads the rows logged after the window."""
    filters = FILTERS["since/until"](samples)
    with engine.connect() as conn:
        below = None if page == "first" else _third_page_below(conn, filters)
        window = conn.execute(
            text("SELECT count(*) FROM decisions WHERE logged_at >= :since AND logged_at < :until"),
            {"since": samples.since, "until": samples.until},
        ).scalar_one()
        statements = explain_analyze(conn, filters, below)
    plans = "\n\n".join(s.text() for s in statements)
    learned = window if page == "first" else 0
    checks = {
        "the page statement reads at most two pages of rows": sum(s.rows_read for s in statements if s.is_page)
        <= 2 * (LIMIT + 1),
        "all statements read the window once and two pages": sum(s.rows_read for s in statements)
        <= learned + 2 * (LIMIT + 1) + 10,
        "filters discard at most 100 pages of rows": sum(s.rows_removed for s in statements) <= 100 * LIMIT,
    }
    return [f"time window, {page} page: not true that {what}:\n{plans}" for what, ok in checks.items() if not ok]
