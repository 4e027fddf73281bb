"""`clearance-gateway access who|what|review`: the reviews of the API, from the command line, in tables
that fit 80 columns, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.support import cli_registry

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return cli_registry(tmp_path, monkeypatch, columns=80)


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), prog_name="clearance-gateway")


DAY = ("--at", "2026-06-01")  # the reviews below are of this day, whatever the machine's clock says


def test_review_as_json_names_who_may_read_who_may_not_and_who_loses_access(database: str) -> None:
    result = run("access", "review", "G-ESI", *DAY, "--within", "400", "--format", "json")
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)
    assert "P-OK" in [line["person"] for line in review["may_read"]]
    assert "P-SUSP" in [line["person"] for line in review["may_not"]]
    losing = {line["person"]: line for line in review["losing"]}
    assert losing["C-OK"]["loses_access_on"] == "2027-07-01" and losing["C-OK"]["loss_causes"] == ["contract"]


def test_review_table_fits_80_columns_and_names_each_section(database: str) -> None:
    result = run("access", "review", "D-ESI", *DAY, "--within", "400")  # a document: its designation
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = result.stdout
    assert "Access review of G-ESI (METI, ESI, in force)" in text
    assert "May read" in text and "On the roster, may not read" in text and "Lose access within 400 days" in text
    assert "clearance_suspended" in text  # the reason codes of those who may not


def test_review_as_csv_has_one_row_per_line_with_the_messages(database: str) -> None:
    result = run("access", "review", "G-ESI", *DAY, "--within", "10", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["section"] for row in rows} == {"may_read", "may_not"}
    suspended = next(row for row in rows if row["person"] == "P-SUSP")
    assert suspended["may_read"] == "False" and suspended["reasons"].startswith("clearance_suspended: ")


def test_who_and_what(database: str) -> None:
    who = json.loads(run("access", "who", "G-ESI", *DAY, "--format", "json").stdout)
    assert "P-OK" in [line["person"] for line in who["may_read"]]
    result = run("access", "what", "P-OK", *DAY)
    assert result.exit_code == 0, result.output
    assert "What P-OK may read on" in result.stdout and "G-ESI" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    what = json.loads(run("access", "what", "P-OK", *DAY, "--format", "json").stdout)
    assert [line["designation"] for line in what["may_read"]] == [None, "G-ESI"]


def test_a_past_instant_and_bad_input(database: str) -> None:
    result = run("access", "review", "G-ESI", "--at", "2026-02-01", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["day"] == "2026-02-01"
    bad = run("access", "review", "G-ESI", "--at", "soon")
    assert bad.exit_code == 2 and "--at" in bad.output
    missing = run("access", "review", "G-NOPE")
    assert missing.exit_code == 1 and "no designation G-NOPE in the registry" in missing.output
    assert run("access", "what", "P-OK", "--within", "-3").exit_code == 2


def test_help_explains_the_commands(database: str) -> None:
    result = run("access", "--help")
    assert result.exit_code == 0
    for command in ("who", "what", "review"):
        assert command in result.stdout
