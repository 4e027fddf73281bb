"""`clearance-gateway audit export` and `audit report` on a SQLite file, as an auditor would run them.

The registry comes in through the importer (`registry import`), the decisions through the app.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from gateway.audit.report import annual_report, flat_rows
from gateway.cli import app
from models import ChangeEvent, DecisionRecord
from tests.audit.scenario import NOTIFIED, SCENARIO, T0, audit_bundle, evaluate_as, report_bundle
from tests.support import POLICY_DIR, Keys, running_gateway

runner = CliRunner()
INJECTED = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Keys) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(tmp_path / "documents"))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal's width
    bundle = tmp_path / "report.json"
    bundle.write_text(json.dumps(report_bundle()))
    imported = run("registry", "import", str(bundle))
    assert imported.exit_code == 0, imported.output
    with running_gateway(url, tmp_path, keys) as gw:
        gw.import_bundle(audit_bundle())
        for hour, (caller, person, document, at) in enumerate(SCENARIO):
            gw.clock.now = T0 + timedelta(hours=hour)
            evaluate_as(gw, caller, person, document, at)
        gw.clock.now = T0 + timedelta(hours=len(SCENARIO))
        evaluate_as(gw, INJECTED, "P-A", "D-E", None)  # a calling system named like a formula (ids cannot be)
    yield url


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), prog_name="clearance-gateway")


def logged(url: str) -> list[tuple[str, datetime]]:
    """(decision_id, logged_at) of every decision, newest first, straight from the table."""
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(table.c.decision_id, table.c.logged_at).order_by(table.c.seq.desc())
            return [(r.decision_id, r.logged_at) for r in conn.execute(query)]
    finally:
        engine.dispose()


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(m.__table__)).scalar_one()  # type: ignore[attr-defined]
                for m in (DecisionRecord, ChangeEvent)
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("command", "says"),
    [(("audit",), "export"), (("audit", "export"), "--since"), (("audit", "report"), "counts only")],
)
def test_every_command_explains_itself(monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], says: str) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert says in result.output


def test_export_csv_to_stdout_is_the_whole_log_newest_first(database: str) -> None:
    before = counts(database)
    result = run("audit", "export", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["decision_id"] for r in rows] == [d for d, _ in logged(database)]
    assert rows[0]["caller_sub"] == "'" + INJECTED  # CSV injection escaped
    assert "inputs" not in result.stdout and NOTIFIED not in result.stdout  # C9
    assert counts(database) == before  # an auditor's command writes nothing


def test_export_jsonl_to_a_file_shows_progress_on_stderr(database: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "decisions.jsonl"
    target.parent.mkdir()
    result = run("audit", "export", "--format", "jsonl", "--out", str(target))
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in target.read_text().splitlines()]
    assert [i["decision_id"] for i in items] == [d for d, _ in logged(database)]
    assert items[0]["caller"]["sub"] == INJECTED  # JSON keeps the value as logged
    assert all("inputs" not in i for i in items)
    assert result.stdout == ""
    assert f"{len(items)} decisions written" in result.stderr


WINDOWS = [
    (["--since", "2026-06-01T12:00:00+09:00"], lambda at: at >= T0 + timedelta(hours=3)),
    (["--until", "2026-06-01T03:00:00Z"], lambda at: at < T0 + timedelta(hours=3)),
    (["--since", "2026-06-01T02:00:00Z", "--until", "2026-06-01T14:00:00+09:00"],
     lambda at: T0 + timedelta(hours=2) <= at < T0 + timedelta(hours=5)),
    (["--since", "2030-01-01T00:00:00Z"], lambda at: False),
]  # fmt: skip


@pytest.mark.parametrize(("window", "keeps"), WINDOWS, ids=[" ".join(w) for w, _ in WINDOWS])
def test_export_keeps_the_window(database: str, window: list[str], keeps: Any) -> None:
    result = run("audit", "export", "--format", "jsonl", *window)
    assert result.exit_code == 0, result.output
    exported = [json.loads(line)["decision_id"] for line in result.stdout.splitlines()]
    expected = [d for d, at in logged(database) if keeps(at)]
    assert exported == expected
    assert expected or "2030" in window[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "2026-06-01T00:00:00"], "no offset"),
        (["--until", "yesterday"], "not an ISO 8601 instant"),
        (["--since", "2026-06-02T00:00:00Z", "--until", "2026-06-01T00:00:00Z"], "later than --since"),
        (["--format", "xlsx"], "xlsx"),
    ],
)
def test_export_refuses_bad_options(database: str, args: list[str], says: str) -> None:
    result = run("audit", "export", *args)
    assert result.exit_code == 2
    assert says in result.output


def test_report_prints_a_table_per_organ_with_totals_and_writes_csv(database: str, tmp_path: Path) -> None:
    target = tmp_path / "r3.csv"
    result = run("audit", "report", "--year", "2026", "--csv", str(target))
    assert result.exit_code == 0, result.output
    for text in ("Annual report 2026, ESI Act", "Annual report 2026, SDS Act", "operators certified", "NPA", "Total"):
        assert text in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80  # tables readable at 80 columns
    assert "P-R" not in result.stdout  # C9: counts, never who
    rows = list(csv.DictReader(target.open(newline="")))
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            expected = flat_rows(annual_report(conn, 2026))
    finally:
        engine.dispose()
    assert [{k: str(v) for k, v in row.items()} for row in expected] == rows
    meti = next(r for r in rows if (r["scheme"], r["organ_id"]) == ("esi", "METI"))
    assert (meti["designations_made"], meti["designations_cancelled"], meti["designations_expired"]) == ("2", "2", "2")
    totals = {r["scheme"]: r for r in rows if r["name"] == "Total"}
    assert (totals["esi"]["assessments_carried_out"], totals["sds"]["assessments_carried_out"]) == ("2", "1")
    assert totals[""]["certifications"] == "2"  # certifications name no Act: once, beside both
    sds_only = run("audit", "report", "--year", "2026", "--scheme", "sds")
    assert sds_only.exit_code == 0 and "SDS Act" in sds_only.stdout and "ESI Act" not in sds_only.stdout


@pytest.mark.parametrize("year", ["0", "10000", "twenty"])
def test_report_refuses_a_year_out_of_range(database: str, year: str) -> None:
    assert run("audit", "report", "--year", year).exit_code == 2


@pytest.mark.parametrize("command", [["audit", "export"], ["audit", "report", "--year", "2026"]])
def test_without_a_database_the_commands_say_so_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    missing = tmp_path / "missing.db"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{missing}")
    result = run(*command)
    assert result.exit_code == 1
    assert "No gateway database" in result.stderr
    assert not missing.exists()


def test_verify_and_checkpoint_from_the_command_line(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from typer.testing import CliRunner

    from gateway.cli import app as cli
    from tests.rules_registry import rules_bundle
    from tests.support import running_gateway

    url = f"sqlite:///{tmp_path / 'v.db'}"
    with running_gateway(url, tmp_path, keys) as gw:
        gw.import_bundle(rules_bundle())
        for person in ("P-OK", "P-SDS", "C-OK"):
            gw.evaluate(person, "D-ESI", at="2026-06-01T12:00:00+09:00")
        engine = gw.container.engine
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_DOCUMENT_DIR": str(tmp_path / "documents")}
        runner = CliRunner()
        ok = runner.invoke(cli, ["audit", "verify"], env=env)
        assert ok.exit_code == 0, ok.output
        assert "OK" in ok.output and "decisions: 3 entries" in ok.output
        signed = runner.invoke(cli, ["audit", "checkpoint"], env=env)
        assert "signed decisions at entry 3" in signed.output
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER decisions_no_update"))
            conn.execute(text("UPDATE decisions SET allowed = NOT allowed WHERE chain_index = 2"))
        broken = runner.invoke(cli, ["audit", "verify"], env=env)
        assert broken.exit_code == 1
        assert "BROKEN decisions log, entry 2: content altered" in broken.output


def test_audit_decisions_and_report_fit_80_columns_with_the_api_filters(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: auditors at the command line, with the API's filters; a day alone is a JST day."""
    monkeypatch.setenv("COLUMNS", "80")
    every = logged(database)
    listing = run("audit", "decisions", "--limit", "1000")
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["logged", "(JST)", "decision", "id", "person", "→", "document", "result"]
    shown = [line.split()[2] for line in lines[1:-1] if line[:4].isdigit()]
    assert shown == [d for d, _ in every]  # every id whole, newest first
    plain = run("audit", "decisions", "--caller", "dms-2").stdout.splitlines()  # ids of usual lengths
    assert len(plain) > 3 and [line for line in plain if len(line) > 80] == []
    first_day = [d for d, at in every if at < T0 + timedelta(hours=15)]  # 2026-06-01 in Japan ends 15:00Z
    by_day = run("audit", "decisions", "--json", "--since", "2026-06-01", "--until", "2026-06-01")
    assert [json.loads(line)["decision_id"] for line in by_day.stdout.splitlines()] == first_day
    denied = run("audit", "decisions", "--json", "--caller", "dms-2", "--decision", "deny")
    items = [json.loads(line) for line in denied.stdout.splitlines()]
    assert items and {(i["caller"]["sub"], i["decision"]) for i in items} == {("dms-2", "deny")}
    exported = run("audit", "export", "--format", "jsonl", "--caller", "dms-2", "--decision", "deny")
    assert [json.loads(line) for line in exported.stdout.splitlines()] == items
    report = run("audit", "report", "--year", "2026").stdout.splitlines()
    assert "METI" in "".join(report) and [line for line in report if len(line) > 80] == []
    naive = run("audit", "decisions", "--since", "2026-06-01T09:00")
    assert naive.exit_code == 2 and "no offset" in naive.stderr and "+09:00" in naive.stderr


def test_audit_show_gives_reasons_and_fact_ids_in_jst(database: str) -> None:
    newest = run("audit", "decisions", "--json", "--decision", "deny", "--no-simulation", "--limit", "1")
    denied = json.loads(newest.stdout)
    shown = run("audit", "show", denied["decision_id"])
    assert shown.exit_code == 0, shown.output
    labelled = [line for line in shown.stdout.splitlines() if not line.startswith(("fact", "evaluated", "reason"))]
    lines = dict(line.split(None, 1) for line in labelled)
    assert lines["decision"] == f"{denied['decision_id']}: deny"
    assert lines["logged"].endswith(" JST") and "." not in lines["logged"]  # no microseconds
    for reason in denied["reasons"]:
        assert f"reason          {reason['code']}: {reason['message']}" in shown.stdout
    missing = run("audit", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.exit_code == 1 and "No decision 01ARZ3NDEKTSV4RRFFQ69G5FAV" in missing.stderr
