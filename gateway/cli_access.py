"""`clearance-gateway access who|what|review`: access reviews from the command line.

The same reviews as GET /v1/access/{who,what,review}, read straight from the configured database and
policy files: tables that stay readable at 80 columns (reason codes and days; `--format json` or
`csv` for the messages), CSV for spreadsheets, JSON for scripts.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console()
err = Console(stderr=True, soft_wrap=True)
app = typer.Typer(
    help="Access reviews: who may read a designation or document, what a person may read, and who loses "
    "access soon and why. Decided as the gateway decides, on the registry as it stood at --at.",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


At = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="WHEN",
        help="review at this instant (2026-02-01T09:00+09:00) or day (2026-02-01: as it stood at its end); default now",
    ),
]
Within = Annotated[int, typer.Option("--within", metavar="DAYS", help="look this many days ahead for losses")]
Fmt = Annotated[Format, typer.Option("--format", help="table (80 columns), csv or json")]
CSV_FIELDS = ("section", "person", "designation", "may_read", "roster", "reasons", "loses_access_on", "loss_causes")


def _run(work: Any, at: str | None, within: int) -> Any:
    """`work(reviewer, snapshot, policy, instant, present)` on the configured registry and policy, at
    the instant `at` names (now when None), looking `within` days ahead."""
    from gateway.access_review import window_error

    if (error := window_error(within)) is not None:
        raise typer.BadParameter(error, param_hint="--within")
    from datetime import UTC, datetime

    from gateway.access_review import NotFound, Reviewer
    from gateway.api.access import parse_at
    from gateway.cli_admin import _registry
    from gateway.db import READ_ONLY
    from gateway.decision.policy import PolicyError
    from gateway.policy.files import load_policy
    from gateway.registry.loading import load_snapshot
    from gateway.search import Finder

    with _registry() as (settings, engine):
        try:
            instant, present = parse_at(at, settings.zone, datetime.now(UTC))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--at") from exc
        try:
            policy = load_policy(settings.policy_dir)
        except PolicyError as exc:
            err.print(f"[red]The policy in {settings.policy_dir} does not load:[/] {escape(str(exc))}")
            raise typer.Exit(1) from exc
        with err.status("reading the registry"), engine.connect().execution_options(**READ_ONLY) as conn:
            snapshot = load_snapshot(conn)
        reviewer = Reviewer(Finder(settings.zone))
        try:
            return work(reviewer, snapshot, policy, instant, present)
        except NotFound as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(1) from exc


def _codes(reasons: list[dict[str, str]]) -> str:
    return " ".join(r["code"] for r in reasons)


def _emit(answer: dict[str, Any], fmt: Format, sections: tuple[str, ...], title: str) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    if fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for section in sections:
            for line in answer[section]:
                writer.writerow(
                    {
                        **line,
                        "section": section,
                        "reasons": "; ".join(f"{r['code']}: {r['message']}" for r in line["reasons"]),
                        "loss_causes": " ".join(line["loss_causes"]),
                    }
                )
        return
    out.print(title, highlight=False)
    headings = {
        "may_read": "May read",
        "may_not": "On the roster, may not read",
        "losing": f"Lose access within {answer.get('within_days')} days",
    }
    for section in sections:
        lines = answer[section]
        table = Table(title=f"{headings[section]} ({len(lines)})", title_justify="left", expand=False)
        first = "designation" if "person" in answer else "person"
        table.add_column(first, no_wrap=True, max_width=18)
        table.add_column("roster", no_wrap=True)
        if section == "may_not":
            table.add_column("reasons", overflow="fold", max_width=40)
        else:
            table.add_column("loses on", no_wrap=True)
            table.add_column("why", overflow="fold", max_width=22)
        for line in lines:
            name = line[first] if line[first] is not None else "(unclassified)"
            if section == "may_not":
                table.add_row(name, line["roster"], _codes(line["reasons"]))
            else:
                table.add_row(name, line["roster"], line["loses_access_on"] or "", " ".join(line["loss_causes"]))
        out.print(table if lines else f"{headings[section]}: none.")


@app.command()
def who(
    target: Annotated[str, typer.Argument(help="a designation id, or a document id (its designation)")],
    at: At = None,
    fmt: Fmt = Format.table,
) -> None:
    """Who may read the documents of a designation (or of one document's designation), and on what basis."""
    answer = _review(target, at, 0)
    _emit(answer, fmt, ("may_read",), _title("Who may read", answer))


@app.command()
def review(
    target: Annotated[str, typer.Argument(help="a designation id, or a document id (its designation)")],
    at: At = None,
    within: Within = 30,
    fmt: Fmt = Format.table,
) -> None:
    """Review a designation: who may read it, who on its roster may not and why, who loses access within
    --within days and why (clearance, certification, contract, roster, designation ending)."""
    answer = _review(target, at, within)
    _emit(answer, fmt, ("may_read", "may_not", "losing"), _title("Access review of", answer))


@app.command()
def what(
    person: Annotated[str, typer.Argument(help="the person's id")],
    at: At = None,
    within: Within = 30,
    fmt: Fmt = Format.table,
) -> None:
    """What a person may read, per designation (and the unclassified documents); the designations on
    whose roster they are and may not read, with the reasons; and what they lose within --within days."""

    def work(reviewer: Any, snapshot: Any, policy: Any, instant: Any, present: bool) -> dict[str, Any]:
        return reviewer.person(snapshot, policy, person, instant, present=present, within_days=within).as_dict(True)

    answer = _run(work, at, within)
    title = f"What {answer['person']} may read on {answer['day']}: {answer['counts']['documents']} documents"
    _emit(answer, fmt, ("may_read", "may_not", "losing"), title)


def _review(target: str, at: str | None, within: int) -> dict[str, Any]:
    def work(reviewer: Any, snapshot: Any, policy: Any, instant: Any, present: bool) -> dict[str, Any]:
        kind = "document_id" if target in snapshot.documents else "designation_id"
        found = reviewer.review(snapshot, policy, instant, present=present, within_days=within, **{kind: target})
        return found.as_dict(True)  # the CLI runs on the database itself: an administrator's view

    return _run(work, at, within)


def _title(what: str, answer: dict[str, Any]) -> str:
    d = answer
    state = "in force" if d["in_force"] else "not in force"
    return f"{what} {d['designation']} ({d['organ']}, {str(d['scheme']).upper()}, {state}) on {d['day']}"
