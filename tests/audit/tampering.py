"""What an attacker with the database owner's rights can do to the logs, for the tests that must catch it."""

from __future__ import annotations

from sqlalchemy import Engine, select

from gateway.audit.chain import entry_hash
from models import DecisionRecord


def tamper(engine: Engine, *statements: str) -> None:
    """Switch the append-only guards off, then write."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for table in ("decisions", "change_events", "checkpoints"):
                for verb in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for statement in statements:
            conn.exec_driver_sql(statement)


def rewrite_consistently(engine: Engine, *extra: str) -> None:
    """Flip entry 2's decision and recompute every later hash and the head, so that the chain itself stays
    whole (then run `extra`): only a signed checkpoint can tell."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in
                conn.execute(select(DecisionRecord.__table__).order_by(DecisionRecord.chain_index))]  # fmt: skip
    rows[1]["allowed"] = not rows[1]["allowed"]
    prev, statements = rows[0]["hash"], []
    for row in rows[1:]:
        row["prev_hash"], row["hash"] = prev, entry_hash(prev, "decisions", row)
        prev = row["hash"]
        allowed = "true" if row["allowed"] else "false"
        statements.append(
            f"UPDATE decisions SET allowed = {allowed}, prev_hash = '{row['prev_hash']}', hash = '{row['hash']}' "
            f"WHERE seq = {row['seq']}"
        )
    statements.append(f"UPDATE chain_heads SET hash = '{prev}' WHERE chain = 'decisions'")
    tamper(engine, *statements, *extra)
