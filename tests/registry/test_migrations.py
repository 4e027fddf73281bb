"""The schema comes from the Alembic revisions: an empty database reaches head on SQLite and PostgreSQL,
matches the models exactly, keeps the logs append-only, and a gateway refuses a schema it does not know."""

from __future__ import annotations

import json
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel
from typer.testing import CliRunner

import gateway.db
import gateway.migrations
from gateway.cli import app
from gateway.container import build_container
from gateway.db import (
    SchemaRefused,
    SchemaState,
    SchemaStatus,
    Upgrade,
    ensure_schema,
    make_engine,
    schema_state,
    upgrade,
)
from gateway.decision.engine import decide
from gateway.migrations.__main__ import draft
from gateway.policy.files import load_policy
from gateway.registry.bundle_checks import parse_bundle
from gateway.registry.importer import _row
from gateway.registry.loading import _TABLES as _SNAPSHOT_TABLES
from gateway.registry.loading import build_snapshot, load_snapshot
from gateway.registry.tables import ORDER, T
from gateway.settings import Settings
from models import ChainHead, ContractDesignation, DecisionRecord, StatusPeriod
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, REPO, Keys, running_gateway

REVISIONS = ["0001", "0003", "0005", "0006"]  # 0003: the registry on any day; 0005: provisions; 0006: transitional
HEAD = REVISIONS[-1]
NEXT = f"{int(HEAD) + 1:04d}"  # what a newer gateway (or the next draft) adds
GENESIS = "0" * 64
APPEND_ONLY = {"decisions", "change_events", "checkpoints", "designation_events", "status_periods", "record_versions"}
Newer = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(Settings(database_url=db_url))
    yield engine
    engine.dispose()


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """A copy of the shipped revisions, which a test may add to."""
    copy = tmp_path / "migrations"
    shutil.copytree(gateway.migrations.SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
def newer_gateway(scripts: Path, monkeypatch: pytest.MonkeyPatch) -> Newer:
    """`with newer_gateway():` this process is a gateway that knows one more revision, NEXT."""
    (scripts / "versions" / f"{NEXT}_index_organ_names.py").write_text(
        '"""Index organs by name."""\n\n'
        "from alembic import op\n\n"
        f'revision = "{NEXT}"\ndown_revision = "{HEAD}"\n\n\n'
        'def upgrade() -> None:\n    op.create_index("ix_organs_name", "organs", ["name"])\n'
    )

    @contextmanager
    def newer() -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(gateway.migrations, "SCRIPTS", scripts)
            yield

    return newer


def chain_heads(engine: Engine) -> list[tuple[str, int, str]]:
    table = ChainHead.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(table.c.chain, table.c.chain_index, table.c.hash))]


def test_an_empty_database_is_migrated_to_head(engine: Engine) -> None:
    assert schema_state(engine).state is SchemaState.EMPTY
    done = upgrade(engine)
    assert (done.before, done.after, [revision for revision, _ in done.ran]) == (None, HEAD, REVISIONS)
    assert schema_state(engine) == SchemaStatus(SchemaState.HEAD, HEAD, HEAD)
    assert sorted(chain_heads(engine)) == [("changes", 0, GENESIS), ("decisions", 0, GENESIS)]


def test_the_migrated_schema_is_the_models_schema(engine: Engine) -> None:
    """No drift: what the models declare is what the revisions built, column types included."""
    upgrade(engine)
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect an expression index, so Alembic skips ix_decisions_designation there (with
        # these two warnings) and compares it on PostgreSQL only; its SQLite form is checked below.
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        if engine.dialect.name == "sqlite":
            ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_decisions_designation'")
            assert ddl.scalar_one().endswith("(json_extract(facts, '$.designation'), seq)")


def test_the_logs_are_append_only_after_migration(engine: Engine) -> None:
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        expected = {f"{table}_no_{verb}" for table in APPEND_ONLY for verb in ("update", "delete")}
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        expected = {f"{table}_{guard}" for table in APPEND_ONLY for guard in ("append_only", "no_truncate")}
    with engine.connect() as conn:
        assert set(conn.exec_driver_sql(query).scalars()) == expected
    with engine.begin() as conn:
        conn.execute(insert(DecisionRecord.__table__), [_decision()])  # type: ignore[attr-defined]
    refused = ["UPDATE decisions SET allowed = true", "DELETE FROM decisions"]
    if engine.dialect.name == "postgresql":
        refused.append("TRUNCATE decisions")
    for statement in refused:
        with pytest.raises(DBAPIError, match="decisions is append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)


def test_upgrading_again_runs_nothing(engine: Engine) -> None:
    upgrade(engine)
    again = upgrade(engine)
    assert (again.before, again.after, again.ran) == (HEAD, HEAD, [])
    assert len(chain_heads(engine)) == 2


def test_replicas_starting_together_take_turns(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first replica migrates; the second waits for its commit, then finds nothing left to run."""
    migrated, commit = threading.Event(), threading.Event()
    run_revisions = gateway.db.upgrade_to_head

    def first_replica_holds_its_transaction_open(conn: Any) -> None:
        run_revisions(conn)
        if not migrated.is_set():
            migrated.set()
            commit.wait(timeout=60)

    monkeypatch.setattr(gateway.db, "upgrade_to_head", first_replica_holds_its_transaction_open)
    results: dict[str, Any] = {}

    def start_up(name: str, engine: Engine) -> None:
        try:
            results[name] = ensure_schema(engine, auto_migrate=True)
        except Exception as exc:
            results[name] = exc

    second_engine = make_engine(Settings(database_url=db_url))
    first = threading.Thread(target=start_up, args=("first", engine), daemon=True)
    second = threading.Thread(target=start_up, args=("second", second_engine), daemon=True)
    first.start()
    assert migrated.wait(timeout=60)
    second.start()
    second.join(timeout=1)
    assert second.is_alive(), results  # waiting for the first replica's migration to commit
    commit.set()
    first.join(timeout=60)
    second.join(timeout=60)
    second_engine.dispose()
    assert [revision for revision, _ in results["first"].ran] == REVISIONS
    assert results["second"] == Upgrade(HEAD, HEAD, [])  # it found the schema at head once it had the lock
    assert schema_state(engine).state is SchemaState.HEAD
    assert len(chain_heads(engine)) == 2


def test_an_older_schema_is_migrated_only_when_allowed(engine: Engine, newer_gateway: Newer) -> None:
    upgrade(engine)
    with newer_gateway():
        assert schema_state(engine) == SchemaStatus(SchemaState.BEHIND, HEAD, NEXT)
        with pytest.raises(
            SchemaRefused,
            match=f"at revision {HEAD}; this gateway needs {NEXT}: back the database up, "
            "then run `clearance-gateway db upgrade`",
        ):
            ensure_schema(engine, auto_migrate=False)
        assert ensure_schema(engine, auto_migrate=True) == Upgrade(HEAD, NEXT, [(NEXT, "Index organs by name.")])
        assert schema_state(engine).state is SchemaState.HEAD
    assert "ix_organs_name" in {index["name"] for index in inspect(engine).get_indexes("organs")}


def _by_a_newer_gateway(engine: Engine, newer_gateway: Newer) -> None:
    with newer_gateway():
        upgrade(engine)


def _without_migrations(engine: Engine, newer_gateway: Newer) -> None:
    SQLModel.metadata.create_all(engine)


UNKNOWN = [
    (_by_a_newer_gateway, rf"migrated by a newer clearance-gateway \(revision {NEXT}, which this one does not know"),
    (_without_migrations, r"clearance-gateway tables \(.*\) but no record of their revision"),
]


@pytest.mark.parametrize(("made", "says"), UNKNOWN, ids=["newer revision", "no revision"])
def test_a_schema_this_gateway_does_not_know_is_refused_and_left_alone(
    engine: Engine, db_url: str, tmp_path: Path, newer_gateway: Newer, made: Callable[..., None], says: str
) -> None:
    made(engine, newer_gateway)
    found = schema_state(engine)
    assert found.state is SchemaState.UNKNOWN
    settings = Settings(database_url=db_url, policy_dir=POLICY_DIR, document_dir=tmp_path / "documents")
    for attempt in (lambda: upgrade(engine), lambda: ensure_schema(engine, True), lambda: build_container(settings)):
        with pytest.raises(SchemaRefused, match=says):
            attempt()
    assert schema_state(engine) == found


def test_start_up_without_auto_migrate_refuses_an_empty_database(db_url: str, tmp_path: Path, keys: Keys) -> None:
    settings = Settings(
        database_url=db_url, policy_dir=POLICY_DIR, document_dir=tmp_path / "documents", auto_migrate=False
    )
    with pytest.raises(SchemaRefused, match="no clearance-gateway schema yet: run `clearance-gateway db upgrade`"):
        build_container(settings)
    with running_gateway(db_url, tmp_path, keys) as gw:  # GATEWAY_AUTO_MIGRATE defaults to true
        assert gw.client.get("/readyz").status_code == 200
    with running_gateway(db_url, tmp_path, keys, auto_migrate=False) as gw:  # at head now: starts
        assert gw.client.get("/readyz").status_code == 200


def test_the_db_commands(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newer_gateway: Newer) -> None:
    for name, value in {
        "DATABASE_URL": db_url,
        "POLICY_DIR": str(POLICY_DIR),
        "DOCUMENT_DIR": str(tmp_path / "documents"),
    }.items():
        monkeypatch.setenv(f"GATEWAY_{name}", value)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal's width
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"organs": [{"id": "NPA", "name": "National Police Agency"}]}))

    assert cli(1, "db", "current").endswith(
        f"empty: no clearance-gateway schema yet. Run `clearance-gateway db upgrade` to create it (revision {HEAD}).\n"
    )
    with monkeypatch.context() as patch:
        patch.setenv("GATEWAY_AUTO_MIGRATE", "false")
        assert "Refused: The database has no clearance-gateway schema yet" in cli(1, "registry", "import", str(bundle))
    assert "Imported bundle.json" in cli(0, "registry", "import", str(bundle))  # it migrates, as serve would
    assert cli(0, "db", "current").endswith(f"head: revision {HEAD}, the newest this gateway knows.\n")
    assert f"is at revision {HEAD}: nothing to run." in cli(0, "db", "upgrade")
    assert "nothing to run" in cli(0, "db", "init")
    with newer_gateway():
        assert f"behind: revision {HEAD}; this gateway's newest is {NEXT}." in cli(1, "db", "current")
        upgraded = cli(0, "db", "upgrade")
        moved = f"from {HEAD} to {NEXT}:\n  {NEXT}  Index organs by name.\nSchema ready: revision {NEXT} (head)."
        assert moved in upgraded
    assert "unknown: This database was migrated by a newer clearance-gateway" in cli(1, "db", "current")
    assert "Refused: This database was migrated by a newer clearance-gateway" in cli(1, "db", "upgrade")


def test_a_fresh_draft_is_empty_while_the_models_match_the_revisions(
    scripts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m gateway.migrations "..."` drafts the next revision; with nothing changed, it does nothing."""
    monkeypatch.setattr(gateway.migrations, "SCRIPTS", scripts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot compare the expression index (see the no-drift test)
        path = draft("nothing changes")
    assert path.parent == scripts / "versions" and path.name == f"{NEXT}_nothing_changes.py"
    source = path.read_text()
    assert f"revision = '{NEXT}'\ndown_revision = '{HEAD}'" in source
    upgrade_body = source.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "op." not in upgrade_body and "pass" in upgrade_body


def cli(status: int, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), prog_name="clearance-gateway")
    assert result.exit_code == status, result.output
    return result.output


def _decision() -> dict[str, Any]:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    return {
        "decision_id": "01TESTDECISION",
        "schema_version": 1,
        "logged_at": now,
        "evaluated_at": now,
        "caller_sub": "pep-1",
        "channel": "authzen",
        "person_id": "P-1",
        "document_id": "D-1",
        "action": "read",
        "allowed": False,
        "reasons": [],
        "reason_codes": "",
        "policy_version": "sha256:test",
        "facts": {},
        "simulation": False,
        "latency_us": 0,
        "chain_index": 1,
        "prev_hash": GENESIS,
        "hash": GENESIS,
    }


def test_serve_and_registry_commands_refuse_an_unmigrated_database_with_the_reason_not_a_traceback(
    tmp_path: Path,
) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "GATEWAY_AUTO_MIGRATE": "false",
        "GATEWAY_DEV_MODE": "true",  # no keys: development keys, asked for
        "GATEWAY_DOCUMENT_DIR": str(tmp_path / "documents"),
        "GATEWAY_POLICY_DIR": str(REPO / "policy"),
    }
    executable = str(REPO / ".venv" / "bin" / "clearance-gateway")
    for command in (["serve", "--port", "1"], ["registry", "expiring"]):
        done = subprocess.run(
            [executable, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "db upgrade" in " ".join(done.stderr.split()), (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)


def test_a_0001_database_with_data_upgrades_to_head_without_losing_a_record_and_decides_the_same(
    engine: Engine, scripts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0003 re-keys the roster and adds the registry's history: every row stays, each assessment and
    certification gets its status as its first period, and every decision of today comes out the same."""
    for script in (scripts / "versions").glob("*.py"):
        if not script.name.startswith("0001_"):
            script.unlink()
    with monkeypatch.context() as patch:
        patch.setattr(gateway.migrations, "SCRIPTS", scripts)
        assert upgrade(engine).after == "0001"
    bundle = parse_bundle(json.dumps(rules_bundle()))
    with engine.begin() as conn:
        for name in ORDER:
            rows = [
                {k: v for k, v in _row(name, entry, None).items() if k != "transitional"}  # type: ignore[arg-type]
                for entry in getattr(bundle, name)
                if name != "documents"
            ]  # 0006 adds `transitional`
            if name == "documents":
                rows = [
                    {"id": d.id, "title": d.title, "designation_id": d.designation_id, "media_type": d.media_type}
                    | {"size": 0, "sha256": ""}
                    for d in bundle.documents
                ]
            if rows:
                columns = (sa_column(k, T[name].c[k].type) for k in rows[0])
                conn.execute(insert(sa_table(T[name].name, *columns)), rows)
        links = [{"contract_id": k.id, "designation_id": d} for k in bundle.contracts for d in k.designation_ids]
        conn.execute(insert(ContractDesignation.__table__), links)  # type: ignore[attr-defined]
        old_esi = {"id": "A-OLD", "person_id": "P-NONE", "organ_id": "METI", "scheme": "esi", "result": "favourable"}
        old_esi |= {"notified_on": date(2024, 1, 1), "status": "active"}  # accepted before 0006's floor
        conn.execute(insert(sa_table("assessments", *(sa_column(k) for k in old_esi))), [old_esi])
    later = {"provisions"}  # tables a later revision makes (0005)
    tables = [*(t for t in T.values() if t.name not in later), ContractDesignation.__table__]  # type: ignore[attr-defined]
    with engine.connect() as conn:
        before_rows = {t.name: sorted(map(tuple, conn.execute(select(*_at_0001(t))))) for t in tables}
        old = build_snapshot(
            0,
            **{
                name: conn.execute(select(*_at_0001(model.__table__))).all()  # type: ignore[attr-defined]
                for name, model in _SNAPSHOT_TABLES.items()
                if model.__tablename__ not in later
            },
        )

    assert [revision for revision, _ in upgrade(engine).ran] == REVISIONS[1:]
    with engine.connect() as conn:
        assert {t.name: sorted(map(tuple, conn.execute(select(*_at_0001(t))))) for t in tables} == before_rows
        periods = conn.execute(select(StatusPeriod.__table__)).all()  # type: ignore[attr-defined]
        table = T["assessments"]
        marked = set(conn.execute(select(table.c.id).where(table.c.transitional.is_(True))).scalars())
        assert marked == {"A-OLD"}  # 0006: the ESI record older than the Act is marked, no other
        new = load_snapshot(conn)
    statuses = {(p.entity, p.entity_id): p.status for p in periods}
    assert statuses == {("assessment", a.id): a.status for a in bundle.assessments} | {
        ("assessment", "A-OLD"): "active"
    } | {
        ("certification", c.id): c.status for c in bundle.certifications
    }
    policy, today = load_policy(POLICY_DIR), date(2026, 6, 1)
    for person in bundle.persons:
        for document in bundle.documents:
            was = decide(old.facts(person.id, document.id), "read", today, policy)
            now = decide(new.facts(person.id, document.id), "read", today, policy)
            assert (now.allowed, now.codes) == (was.allowed, was.codes), (person.id, document.id)


def _at_0001(table: Any) -> list[Any]:
    """The columns a table had at 0001 (0006 adds `transitional`)."""
    return [c for c in table.c if c.name != "transitional"]
