"""Engines for the embedded default (SQLite) and production (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from gateway.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        json_serializer=_json,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
    )


READ_ONLY = {"gateway_read_only": True}  # execution option: a transaction that will not write


def _sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock up front. A deferred transaction that reads and then writes
    cannot upgrade its lock once another writer committed (SQLITE_BUSY_SNAPSHOT, which skips the
    busy timeout), so concurrent decisions would fail instead of waiting their turn."""
    read_only = conn.get_execution_options().get("gateway_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite must not BEGIN on its own: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    # WAL lets readers work beside the writer; FULL makes every commit durable before we answer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_APPEND_ONLY = ("decisions", "change_events", "checkpoints", "designation_events")


def create_schema(engine: Engine) -> None:
    from gateway.audit.chain import ensure_heads

    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for table in _APPEND_ONLY:
            for statement in _append_only(engine.dialect.name, table):
                conn.exec_driver_sql(statement)
    ensure_heads(engine)


def _append_only(dialect: str, table: str) -> list[str]:
    """R2, D6: the logs and the designation ledger refuse UPDATE and DELETE, whoever connects."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    return [
        "CREATE OR REPLACE FUNCTION cg_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END $$",
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION cg_append_only()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION cg_append_only()",
    ]
