"""`clearance-gateway registry ...` administration commands, on a SQLite file as an operator would run them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.decision.calendar import local_day
from models import ChangeEvent, RosterEntry
from tests.support import cli_registry

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return cli_registry(tmp_path, monkeypatch, columns=200)


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), prog_name="clearance-gateway")


def events(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(ChangeEvent.__table__).order_by(ChangeEvent.seq)))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def roster(url: str, designation: str, person: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            table = RosterEntry.__table__  # type: ignore[attr-defined]
            where = (table.c.designation_id == designation, table.c.person_id == person)
            return conn.execute(select(table).where(*where)).first()
    finally:
        engine.dispose()


def count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one())
    finally:
        engine.dispose()


def show(*args: str) -> dict[str, Any]:
    result = run("registry", "show", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


HELP = [
    (("registry", "expiring"), "runs out soon"),
    (("registry", "suspend"), "Suspend"),
    (("registry", "reinstate"), "Reinstate"),
    (("registry", "revoke"), "cannot be undone"),
    (("registry", "extend"), "--cabinet-ref"),
    (("registry", "cancel"), "Cancel"),
    (("registry", "roster"), "handler rosters"),
    (("registry", "roster", "add"), "--until"),
    (("registry", "roster", "remove"), "Take a person off"),
    (("registry", "show"), "Show one registry record"),
]


@pytest.mark.parametrize(("command", "says"), HELP, ids=[" ".join(h[0]) for h in HELP])
def test_every_command_explains_itself(monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], says: str) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert says in result.output


MOVES = [
    ("suspend", "assessment", "A-OK", "active", "suspended"),
    ("reinstate", "assessment", "A-SUSP", "suspended", "active"),
    ("revoke", "assessment", "A-SUSP", "suspended", "revoked"),
    ("suspend", "certification", "CERT-ACME", "active", "suspended"),
    ("reinstate", "certification", "CERT-GAMMA", "suspended", "active"),
    ("revoke", "certification", "CERT-ACME", "active", "revoked"),
]


@pytest.mark.parametrize(("name", "kind", "entity_id", "was", "becomes"), MOVES)
def test_a_transition_is_made_and_recorded_under_the_actor(
    database: str, name: str, kind: str, entity_id: str, was: str, becomes: str
) -> None:
    before = count(database)
    result = run("registry", name, kind, entity_id, "--actor", "admin:sato")
    assert result.exit_code == 0, result.output
    assert f"{was} -> {becomes}" in result.stdout
    assert show(kind, entity_id)["status"] == becomes
    (event,) = events(database)[before:]
    assert (event.action, event.actor, event.before["status"], event.after["status"]) == (
        f"{kind}.{name}",
        "admin:sato",
        was,
        becomes,
    )


REFUSED = [
    ("reinstate", "assessment", "A-OK", "active", "allowed from active: suspend, revoke"),
    ("reinstate", "assessment", "A-REV", "revoked", "revocation is final (C7)"),
    ("suspend", "certification", "CERT-GAMMA", "suspended", "allowed from suspended: reinstate, revoke"),
    ("suspend", "assessment", "A-NOPE", None, "no assessment 'A-NOPE'"),
]


@pytest.mark.parametrize(("name", "kind", "entity_id", "status", "says"), REFUSED)
def test_a_refused_transition_says_why_and_exits_1(
    database: str, name: str, kind: str, entity_id: str, status: str | None, says: str
) -> None:
    before = count(database)
    result = run("registry", name, kind, entity_id)
    assert result.exit_code == 1, result.output
    assert says in result.stderr
    assert count(database) == before
    if status:
        assert show(kind, entity_id)["status"] == status


def test_an_unknown_kind_is_a_usage_error(database: str) -> None:
    result = run("registry", "suspend", "designation", "G-ESI")
    assert result.exit_code == 2


def test_d2_extend_in_five_year_steps_and_past_thirty_years_with_a_cabinet_reference(database: str) -> None:
    for expiry in ("2035-05-31", "2040-05-31", "2045-05-31", "2050-05-31", "2055-05-31"):
        result = run("registry", "extend", "G-ESI", "--to", expiry)
        assert result.exit_code == 0, result.output
        assert expiry in result.stdout
    refused = run("registry", "extend", "G-ESI", "--to", "2055-06-01")
    assert refused.exit_code == 1
    assert "$.expires_on" in refused.stderr and "cabinet_approval_ref" in refused.stderr
    granted = run(
        "registry", "extend", "G-ESI", "--to", "2060-05-31", "--cabinet-ref", "CAB-7", "--actor", "cab-office"
    )
    assert granted.exit_code == 0, granted.output
    assert show("designation", "G-ESI")["expires_on"] == "2060-05-31"
    last = events(database)[-1]
    assert (last.action, last.actor, last.after["cabinet_approval_ref"]) == (
        "designation.extend",
        "cab-office",
        "CAB-7",
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--to", "2035-06-01"), 1, "at most 5 years"),
        (("--to", "2030-05-31"), 1, "does not extend"),
        (("--to", "31/05/2035"), 2, "YYYY-MM-DD"),
        ((), 2, "--to"),
    ],
)
def test_a_refused_extension_changes_nothing(database: str, args: tuple[str, ...], code: int, says: str) -> None:
    before = count(database)
    result = run("registry", "extend", "G-ESI", *args)
    assert result.exit_code == code, result.output
    assert says in result.output
    assert count(database) == before
    assert show("designation", "G-ESI")["expires_on"] == "2030-05-31"


def test_cancel_once_today_or_later_and_not_before_the_designation(database: str) -> None:
    today = local_day(datetime.now(UTC), ZoneInfo("Asia/Tokyo"))
    early = run("registry", "cancel", "G-ESI", "--on", "2025-05-31")
    assert early.exit_code == 1 and "$.cancelled_on" in early.stderr
    yesterday = (today - timedelta(days=1)).isoformat()
    backdated = run("registry", "cancel", "G-ESI", "--on", yesterday)  # D3, D6: never back in time
    assert backdated.exit_code == 1 and f"takes effect today ({today}) or later" in backdated.stderr
    assert show("designation", "G-ESI")["cancelled_on"] is None
    result = run("registry", "cancel", "G-ESI", "--on", today.isoformat())
    assert result.exit_code == 0, result.output
    assert show("designation", "G-ESI")["cancelled_on"] == today.isoformat()
    again = run("registry", "cancel", "G-ESI", "--on", (today + timedelta(days=1)).isoformat())
    assert again.exit_code == 1 and "already cancelled" in again.stderr
    assert events(database)[-1].action == "designation.cancel"


def test_roster_add_with_dates_then_remove(database: str) -> None:
    added = run("registry", "roster", "add", "G-SDS", "P-NOROSTER", "--from", "2026-07-01", "--until", "2027-06-30")
    assert added.exit_code == 0, added.output
    assert "added to the roster of G-SDS from 2026-07-01 until 2027-06-30" in added.stdout
    entry = roster(database, "G-SDS", "P-NOROSTER")
    assert (entry.valid_from.isoformat(), entry.valid_until.isoformat()) == ("2026-07-01", "2027-06-30")
    bad = run("registry", "roster", "add", "G-SDS", "P-NOROSTER", "--until", "2026-01-01")
    assert bad.exit_code == 1 and "$.until" in bad.stderr and "before from" in bad.stderr
    assert roster(database, "G-SDS", "P-NOROSTER").valid_until.isoformat() == "2027-06-30"
    removed = run("registry", "roster", "remove", "G-SDS", "P-NOROSTER", "--actor", "admin:sato")
    assert removed.exit_code == 0, removed.output
    today = local_day(datetime.now(UTC), ZoneInfo("Asia/Tokyo"))
    assert roster(database, "G-SDS", "P-NOROSTER").valid_until == today - timedelta(days=1)  # N1: ended, kept
    assert [(e.action, e.actor) for e in events(database)[-2:]] == [
        ("roster.add", "cli"),
        ("roster.remove", "admin:sato"),
    ]
    again = run("registry", "roster", "remove", "G-SDS", "P-NOROSTER")
    assert again.exit_code == 1 and "not on the roster" in again.stderr


def test_roster_add_without_from_starts_today(database: str) -> None:
    result = run("registry", "roster", "add", "G-SDS", "P-NOROSTER")
    assert result.exit_code == 0, result.output
    entry = roster(database, "G-SDS", "P-NOROSTER")
    assert entry.valid_from == local_day(datetime.now(UTC), ZoneInfo("Asia/Tokyo")) and entry.valid_until is None
    assert "until further notice" in result.stdout


def test_n1_rosters_lists_entries_by_designation_and_person_readably_at_80_columns(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("registry", "roster", "remove", "G-ESI", "P-OK").exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    table = run("registry", "rosters", "--designation", "G-ESI")
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    rows = [line for line in table.stdout.splitlines() if "P-OK" in line]
    assert len(rows) == 1 and "2025-06-01" in rows[0] and "ended" in rows[0]
    assert "P-NONE" in table.stdout and "in force" in table.stdout
    as_json = json.loads(run("registry", "rosters", "--person", "P-OK", "--json").stdout)
    expected = {"G-ESI", "G-SDS", "G-CAN", "G-FUT", "G-LONG"}
    assert {e["designation_id"] for e in as_json} == expected and {e["person_id"] for e in as_json} == {"P-OK"}
    both = json.loads(run("registry", "rosters", "--designation", "G-SDS", "--person", "P-OK", "--json").stdout)
    assert both == [{"designation_id": "G-SDS", "person_id": "P-OK", "from": "2025-06-01", "until": None}]
    assert run("registry", "rosters", "--person", "P-GHOST").stdout.strip() == "No roster entries match."


def test_show_prints_a_record_as_a_table_or_json(database: str) -> None:
    table = run("registry", "show", "contract", "K-ACME")
    assert table.exit_code == 0 and "G-ESI, G-SDS" in table.stdout
    assert show("contract", "K-ACME")["designation_ids"] == ["G-ESI", "G-SDS"]
    missing = run("registry", "show", "person", "P-NOPE")
    assert missing.exit_code == 1 and "no person 'P-NOPE'" in missing.stderr


def test_expiring_as_json_and_as_a_table(database: str) -> None:
    result = run("registry", "expiring", "--within", "56w", "--on", "2026-06-01", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["today"], answer["within_days"]) == ("2026-06-01", 392)
    assert answer["items"] == []  # the contracts end on 2027-06-30, two days past 56 weeks
    wider = json.loads(run("registry", "expiring", "--within", "394", "--on", "2026-06-01", "--json").stdout)
    assert [(i["id"], i["last_day"], i["days_left"]) for i in wider["items"]] == [
        (k, "2027-06-30", 394) for k in ("K-ACME", "K-DELTA", "K-GAMMA", "K-ZETA")
    ]
    assert wider["items"][0]["concerns"] == {"operator": "ACME", "organ": "METI"}
    table = run("registry", "expiring", "--within", "394d", "--on", "2026-06-01")
    assert table.exit_code == 0
    assert "K-ZETA" in table.stdout and "operator ZETA, organ MOD" in table.stdout and "2027-06-30" in table.stdout
    near = run("registry", "expiring", "--within", "30d", "--on", "2027-06-10")
    assert "K-ACME" in near.stdout and " 20 " in near.stdout  # days left, shown in red under 30


@pytest.mark.parametrize("within", ["90x", "-3d"])
def test_expiring_refuses_a_window_it_cannot_read(database: str, within: str) -> None:
    result = run("registry", "expiring", "--within", within)
    assert result.exit_code == 2
    assert "90d, 12w" in result.output


def test_delete_a_record_unless_something_refers_to_it(database: str) -> None:
    refused = run("registry", "delete", "person", "P-OK")
    assert refused.exit_code == 1
    assert "roster" in refused.output.lower() or "refer" in refused.output.lower()
    gone = run("registry", "delete", "contract", "K-EPS", "--actor", "admin-7")
    assert gone.exit_code == 0, gone.output
    assert "deleted contract K-EPS" in gone.output
    assert run("registry", "show", "contract", "K-EPS").exit_code == 1
    assert run("registry", "delete", "designation", "G-FUT").exit_code == 1  # D6: never deleted


def test_registry_command_in_another_folder_says_which_setting_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: no empty database made silently where the command happens to run."""
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("registry", "show", "person", "P-OK")
    assert result.exit_code == 1
    assert f"No gateway database at {tmp_path / 'clearance-gateway.db'}" in result.stderr
    assert "GATEWAY_DATABASE_URL" in result.stderr and not (tmp_path / "clearance-gateway.db").exists()
