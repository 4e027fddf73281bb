"""Engines for the embedded default (SQLite) and production (PostgreSQL), and their schema.

The schema is the Alembic revisions in gateway/migrations. A gateway works only on a database at the
newest revision it knows (head): `upgrade` brings a database there, `schema_state` says where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import structlog
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from gateway.migrations import revisions, upgrade_to_head
from gateway.settings import Settings

log = structlog.get_logger("gateway.db")


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        json_serializer=_json,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
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


class SchemaState(StrEnum):
    HEAD = "head"  # at the newest revision this gateway knows
    BEHIND = "behind"  # at an older revision of ours: `db upgrade` brings it to head
    EMPTY = "empty"  # none of the gateway's tables: `db upgrade` creates them
    UNKNOWN = "unknown"  # a revision we do not know, or the gateway's tables with no revision at all


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    revision: str | None  # what the database records (table alembic_version)
    head: str  # the newest revision this gateway knows
    tables: tuple[str, ...] = ()  # the gateway's tables found without a revision (UNKNOWN)

    def refusal(self) -> str:
        """Why a gateway will not start on this schema, and what the operator should do."""
        upgrade_first = "run `clearance-gateway db upgrade` (GATEWAY_AUTO_MIGRATE is off: nothing migrates on its own)"
        if self.state is SchemaState.EMPTY:
            return f"The database has no clearance-gateway schema yet: {upgrade_first}."
        if self.state is SchemaState.BEHIND:
            return (
                f"The database schema is at revision {self.revision}; this gateway needs {self.head}: "
                f"back the database up, then {upgrade_first}."
            )
        if self.revision is not None:
            return (
                f"This database was migrated by a newer clearance-gateway (revision {self.revision}, which "
                f"this one does not know; the newest it knows is {self.head}): upgrade the gateway. (If no "
                "newer gateway ever ran, another application's Alembic records its revisions in this database.)"
            )
        some = ", ".join(self.tables[:3]) + (", ..." if len(self.tables) > 3 else "")
        return (
            f"The database has {len(self.tables)} clearance-gateway tables ({some}) but no record of their "
            "revision (table alembic_version): they were not made by `clearance-gateway db upgrade`, so their "
            "schema is unknown. Point GATEWAY_DATABASE_URL at an empty database and run `clearance-gateway db "
            "upgrade` (a development database may simply be deleted)."
        )


class SchemaRefused(RuntimeError):
    """The gateway will not work on this database's schema; the message tells the operator what to do."""

    def __init__(self, status: SchemaStatus):
        self.status = status
        super().__init__(status.refusal())


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # None: the database was empty
    after: str
    ran: list[tuple[str, str]]  # (revision, what it does), in the order they ran


_MIGRATION_LOCK = 0x6367_6D69_6772_6174  # "cgmigrat": the advisory lock every migrating gateway takes


def schema_state(engine: Engine) -> SchemaStatus:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return _status(conn)


def ensure_schema(engine: Engine, auto_migrate: bool) -> Upgrade | None:
    """At start-up: go on at head; migrate an empty or older schema if allowed; otherwise refuse."""
    status = schema_state(engine)
    if status.state is SchemaState.HEAD:
        return None
    if status.state is SchemaState.UNKNOWN or not auto_migrate:
        raise SchemaRefused(status)
    done = upgrade(engine)
    if done.ran:  # else another process migrated while this one waited for the lock
        log.info("db.upgraded", before=done.before, after=done.after, ran=[revision for revision, _ in done.ran])
    return done


def upgrade(engine: Engine) -> Upgrade:
    """Bring the schema to head in one transaction, or refuse a schema we do not know (UNKNOWN).

    Processes that start together take turns, and the later ones find the work done: PostgreSQL
    holds an advisory lock until the commit; SQLite's BEGIN IMMEDIATE already excludes other writers.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        status = _status(conn)
        if status.state is SchemaState.UNKNOWN:
            raise SchemaRefused(status)
        pending = list(revisions().iterate_revisions(status.head, status.revision))
        if pending:
            upgrade_to_head(conn)
    return Upgrade(status.revision, status.head, [(script.revision, script.doc) for script in reversed(pending)])


def create_schema(engine: Engine) -> None:
    """Bring a new or older database to head (what tests, benchmarks and the registry commands call)."""
    upgrade(engine)


def _status(conn: Connection) -> SchemaStatus:
    scripts = revisions()
    head = scripts.get_current_head()
    assert head is not None, "gateway/migrations/versions holds no revision"
    recorded = MigrationContext.configure(conn).get_current_heads()
    if not recorded:
        ours = tuple(sorted(set(inspect(conn).get_table_names()) & set(SQLModel.metadata.tables)))
        return SchemaStatus(SchemaState.UNKNOWN if ours else SchemaState.EMPTY, None, head, ours)
    revision = ", ".join(recorded)
    if recorded == (head,):
        return SchemaStatus(SchemaState.HEAD, revision, head)
    known = {script.revision for script in scripts.walk_revisions()}
    if len(recorded) == 1 and recorded[0] in known:
        return SchemaStatus(SchemaState.BEHIND, revision, head)
    return SchemaStatus(SchemaState.UNKNOWN, revision, head)
