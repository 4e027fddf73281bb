"""A large decision log made directly in PostgreSQL: INSERT ... SELECT over generate_series.

The rows look like the gateway's own (`gateway.audit.record.decision_row`): 10,000 persons (a few far
busier than the rest), 4,000 documents of which 80 % are classified (two per designation), 8 calling
systems plus readers fetching content themselves (channel `release`), about 60 % allows, the deny
reasons in proportions like the benchmark's cases (sometimes two codes), `facts` with the designation,
clearance and roster ids, `inputs` in the shape of `facts_record`, and `logged_at` spread evenly over
a year in log order (chain_index = n). Same seed, same rows.

Loading is fast because the table's indexes and unique constraints are dropped for the insert and
made again afterwards from their own definitions (read from the catalog first), all in the caller's
transaction: the table ends with exactly the schema `create_schema` gave it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

PERSONS = 10_000
DOCUMENTS = 4_000
CLASSIFIED = 3_200  # DOC-00001 .. DOC-03200 carry a designation, G-(d+1)/2; the rest are unclassified
START = datetime(2025, 6, 1, tzinfo=UTC)  # the first row's logged_at; the last is a year later
SPAN = timedelta(days=365)
DENY_WEIGHTS = {  # percent of denials; roughly the mix of the benchmark's prepared cases
    "not_on_roster": 25,
    "clearance_missing": 20,
    "contract_not_in_force": 10,
    "designation_not_in_force": 10,
    "clearance_insufficient": 8,
    "employer_not_certified": 6,
    "clearance_expired": 6,
    "document_unknown": 4,
    "clearance_suspended": 3,
    "clearance_revoked": 3,
    "subject_unknown": 3,
    "action_not_permitted": 2,
}
_CODES = "ARRAY[" + ",".join(f"'{code}'" for code, weight in DENY_WEIGHTS.items() for _ in range(weight)) + "]"
_POLICY = "sha256:" + "8876867df2a697c143dc0d15bb19297afe2f76154f345d6fa173f06f6ad3b13a"

# One row per n. Text is concatenated and cast to json: json_build_object costs several times more.
_INSERT = f"""
INSERT INTO decisions (decision_id, schema_version, logged_at, evaluated_at, caller_sub, caller_client,
  request_id, channel, person_id, document_id, action, allowed, reasons, reason_codes, policy_version,
  facts, inputs, simulation, latency_us, chain_index, prev_hash, hash)
SELECT '01J' || lpad(upper(to_hex(n)), 23, '0'), 1, at, at,
  CASE WHEN release THEN person_id ELSE 'pep-' || pep END,
  CASE WHEN release THEN 'reader-portal' ELSE 'dms-' || pep END,
  'req-' || to_hex(n * 2654435761 % 4294967296), CASE WHEN release THEN 'release' ELSE 'authzen' END,
  person_id, document_id, 'read', allowed,
  (CASE WHEN allowed THEN '[]' ELSE '[{{"code":"' || code || '","message":"' || person_id || ' × ' || document_id
     || ': ' || replace(code, '_', ' ') || ' (synthetic)"}}' || CASE WHEN two
     THEN ',{{"code":"not_on_roster","message":"' || person_id || ' is not on the roster of ' || coalesce(g, '-')
     || '"}}' ELSE '' END || ']' END)::json,
  CASE WHEN allowed THEN '' WHEN two THEN code || ' not_on_roster' ELSE code END,
  '{_POLICY}',
  ('{{' || CASE WHEN g IS NULL THEN '' ELSE '"designation":"' || g || '","roster":"' || g || '/' || person_id
     || '",' END || '"clearance":"A-' || lpad((p * 7 % 99991)::text, 6, '0') || '","registry_version":'
     || (1400 + n / 20000) || '}}')::json,
  ('{{"person":["' || person_id || '","government","METI",null,null,null],"document":["' || document_id || '",'
     || coalesce('"' || g || '"', 'null') || '],"designation":' || CASE WHEN g IS NULL THEN 'null'
     ELSE '["' || g || '","METI","esi","2024-04-01","2029-03-31",null]' END || ',"assessments":[["A-'
     || lpad((p * 7 % 99991)::text, 6, '0') || '","METI","esi","favourable","2025-01-15","active"]],'
     || '"certifications":[],"contracts":[],"roster":' || CASE WHEN g IS NULL THEN 'null'
     ELSE '["' || g || '","' || person_id || '","2025-02-01",null]' END || '}}')::json,
  simulation, 150 + (n * 7919) % 900, n,
  lpad(to_hex(n - 1), 64, '0'), encode(sha256(n::text::bytea), 'hex')
FROM (
  SELECT n, p, 'P-' || lpad(p::text, 5, '0') AS person_id, 'DOC-' || lpad(d::text, 5, '0') AS document_id,
    CASE WHEN d <= {CLASSIFIED} THEN 'G-' || lpad(((d + 1) / 2)::text, 4, '0') END AS g,
    :start + n * (:span / :rows) AS at,
    a >= 0.4 AS allowed, k < 0.1 AS release, 1 + (k * 1000)::int % 8 AS pep, k > 0.99 AS simulation,
    code, code LIKE 'clearance%' AND c2 < 0.2 AS two
  FROM (SELECT n, 1 + floor(power(random(), 1.7) * {PERSONS})::int AS p,
               1 + floor(random() * {DOCUMENTS})::int AS d, random() AS a, random() AS k,
               ({_CODES})[1 + floor(random() * 100)::int] AS code, random() AS c2
        FROM generate_series(1::bigint, :rows) AS n) AS draws
) AS shaped
"""

_SAVED_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'decisions'
  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'decisions'::regclass)
ORDER BY indexname
"""
_SAVED_CONSTRAINTS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'decisions'::regclass AND contype IN ('p', 'u') ORDER BY conname
"""


@dataclass(frozen=True)
class Filled:
    rows: int
    insert_seconds: float
    index_seconds: float
    analyze_seconds: float
    table_mb: float
    indexes_mb: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def fill_decisions(conn: Connection, rows: int, seed: float = 0.42) -> Filled:
    """Append `rows` generated decisions to an empty `decisions` table, then ANALYZE it (PostgreSQL only).
    Run inside a transaction; the indexes come back before it ends."""
    if conn.dialect.name != "postgresql":
        raise ValueError("fill_decisions generates rows in PostgreSQL's SQL")
    indexes = conn.execute(text(_SAVED_INDEXES)).all()
    constraints = conn.execute(text(_SAVED_CONSTRAINTS)).all()
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        conn.exec_driver_sql(f'ALTER TABLE decisions DROP CONSTRAINT "{name}"')
    started = time.perf_counter()
    conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    conn.execute(text(_INSERT), {"rows": rows, "start": START, "span": SPAN})
    inserted = time.perf_counter()
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in constraints:
        conn.exec_driver_sql(f'ALTER TABLE decisions ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        conn.exec_driver_sql(definition)
    indexed = time.perf_counter()
    conn.exec_driver_sql("ANALYZE decisions")
    analyzed = time.perf_counter()
    table, all_indexes = conn.execute(
        text("SELECT pg_table_size('decisions'), pg_indexes_size('decisions')")).one()
    return Filled(rows, inserted - started, indexed - inserted, analyzed - indexed, table / 2**20,
                  all_indexes / 2**20)


@dataclass(frozen=True)
class Samples:
    """Filter values that match several pages in a generated log: the busiest over its newest rows."""

    person: str
    document: str
    designation: str
    caller: str
    reason: str
    since: datetime
    until: datetime


def pick_samples(conn: Connection, rows: int) -> Samples:
    newest = max(1, rows - 20_000)

    def busiest(expression: str) -> str:
        query = (f"SELECT {expression} FROM decisions WHERE seq > :newest AND {expression} IS NOT NULL "
                 f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        return str(conn.execute(text(query), {"newest": newest}).scalar_one())

    since = START + SPAN * 100 / 365  # a week in the older half of the year
    return Samples(busiest("person_id"), busiest("document_id"), busiest("facts ->> 'designation'"), "pep-3",
                   "clearance_revoked", since, since + timedelta(days=7))
