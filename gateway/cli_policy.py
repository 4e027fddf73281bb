"""Policy commands (`clearance-gateway policy ...`): test, check, diff, show."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from gateway.settings import Settings

app = typer.Typer(help="Test, check, compare and show the Casbin policy in policy/.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep
DirArg = Annotated[Path | None, typer.Argument(help="policy folder (default: GATEWAY_POLICY_DIR, else ./policy)")]


def _directory(directory: Path | None) -> Path:
    return directory or Settings().policy_dir


def _load(directory: Path):  # type: ignore[no-untyped-def]
    from gateway.decision.policy import PolicyError, load_policy

    try:
        return load_policy(directory)
    except PolicyError as exc:
        err.print(f"[red]The policy in {directory} is refused:[/]")
        for problem in exc.problems:
            err.print(f"  {problem}")
        raise typer.Exit(1) from exc


@app.command("test")
def test_command(
    directory: DirArg = None,
    tests: Annotated[Path | None, typer.Option(help="folder of YAML suites (default: DIR/tests)")] = None,
    junit: Annotated[Path | None, typer.Option(help="also write the results as JUnit XML here")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing cases too")] = False,
) -> None:
    """Run the policy's YAML test suites: each case states the expected decision AND reason codes."""
    from gateway.policytest import junit_xml, run_all

    directory = _directory(directory)
    policy = _load(directory)
    suites = run_all(tests or directory / "tests", policy, Settings().zone)
    if not suites:
        err.print(f"[yellow]No suites in {tests or directory / 'tests'}[/]")
        raise typer.Exit(1)
    passed = failed = 0
    for suite in suites:
        mark = "[green]✓[/]" if not suite.failed else "[red]✗[/]"
        out.print(f"{mark} {suite.file}: {suite.name} ({len(suite.cases)} cases)")
        if suite.error:
            out.print(f"    [red]cannot run: {suite.error}[/]")
        for case in suite.cases:
            if case.passed:
                passed += 1
                if verbose:
                    out.print(f"    [green]pass[/] {case.name}")
                continue
            failed += 1
            out.print(f"    [red]FAIL[/] {case.name}\n      expected: {case.expected}\n      got:      {case.actual}")
            for message in case.messages:
                out.print(f"        {message}", markup=False)
        failed += 1 if suite.error else 0
    if junit:
        junit.write_bytes(junit_xml(suites, policy.version))
    out.print(f"{passed} passed, {failed} failed  (policy {policy.version[:19]}…)")
    raise typer.Exit(1 if failed else 0)


@app.command("check")
def check_command(directory: DirArg = None) -> None:
    """Validate model.conf and the policy files: syntax, attributes, reason codes, dead rules, duplicates."""
    from gateway.decision.policy_check import check

    directory = _directory(directory)
    report = check(directory)
    for problem in report.errors:
        out.print(f"[red]error[/]   {problem}", highlight=False)
    for problem in report.warnings:
        out.print(f"[yellow]warning[/] {problem}", highlight=False)
    if report.errors:
        out.print(f"[red]{len(report.errors)} errors[/]: the gateway would refuse this policy.")
        raise typer.Exit(1)
    assert report.policy is not None
    out.print(f"[green]OK[/] {report.policy.version}  ({len(report.warnings)} warnings)")


@app.command("show")
def show_command(directory: DirArg = None) -> None:
    """What the policy grants, requires and exempts, as the gateway reads it."""
    policy = _load(_directory(directory))
    out.print_json(json.dumps(policy.summary))


@app.command("diff")
def diff_command(
    candidate: Annotated[
        Path, typer.Option(help="folder with the candidate model.conf and *.csv", exists=True, file_okay=False)
    ],
    since: Annotated[datetime | None, typer.Option(help="replay decisions logged from this instant (ISO 8601)")] = None,
    until: Annotated[datetime | None, typer.Option(help="... up to this instant")] = None,
    simulations: Annotated[bool, typer.Option(help="include simulated decisions")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON")] = False,
    fail_on_widening: Annotated[bool, typer.Option(help="exit 3 if any decision would widen access")] = False,
) -> None:
    """Replay logged decisions (their recorded facts and instant) under a candidate policy; list every flip."""
    from sqlalchemy import func, select

    from gateway.db import READ_ONLY, make_engine
    from gateway.decision.replay import DiffReport, replay
    from models import DecisionRecord

    settings = Settings()
    policy = _load(candidate)
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    conditions = []
    for bound, op in ((since, "ge"), (until, "lt")):
        if bound is not None:
            if bound.tzinfo is None:
                err.print("[red]--since and --until need an offset, e.g. 2026-01-01T00:00:00+09:00[/]")
                raise typer.Exit(2)
            conditions.append(getattr(table.c.logged_at, f"__{op}__")(bound))
    if not simulations:
        conditions.append(table.c.simulation.is_(False))
    engine = make_engine(settings)
    report = DiffReport()
    columns = [
        table.c[c]
        for c in (
            "seq",
            "decision_id",
            "person_id",
            "document_id",
            "action",
            "evaluated_at",
            "allowed",
            "reason_codes",
            "inputs",
        )
    ]
    try:
        with engine.connect().execution_options(**READ_ONLY) as conn:
            total = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
            last = 0
            with Progress(
                TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
            ) as progress:
                task = progress.add_task("replay", total=total)
                while True:
                    rows = (
                        conn.execute(
                            select(*columns).where(*conditions, table.c.seq > last).order_by(table.c.seq).limit(5000)
                        )
                        .mappings()
                        .all()
                    )
                    if not rows:
                        break
                    replay(rows, policy, settings.zone, report)
                    last = rows[-1]["seq"]
                    progress.advance(task, len(rows))
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_diff(report, policy.version)
    if fail_on_widening and report.widening:
        raise typer.Exit(3)


def _print_diff(report, version: str) -> None:  # type: ignore[no-untyped-def]
    out.print(
        f"Replayed {report.replayed} decisions under {version[:19]}…: {len(report.flips)} would flip, "
        f"{report.unchanged} unchanged"
        + (f", {report.without_inputs} without recorded facts (skipped)" if report.without_inputs else "")
    )
    if not report.flips:
        return
    groups = Table(title="Flips, grouped by reason")
    for column in ("was", "would be", "decisions", ""):
        groups.add_column(column)
    for (was_allowed, was, now_allowed, now), count in report.groups().most_common():
        widens = now_allowed and not was_allowed
        groups.add_row(
            "allow" if was_allowed else ", ".join(was),
            "allow" if now_allowed else ", ".join(now),
            str(count),
            "[bold red]WIDENS ACCESS[/]" if widens else "narrows" if not now_allowed else "",
        )
    out.print(groups)
    detail = Table(title="Decisions that would flip")
    for column in ("decision", "person", "document", "at", "was", "would be"):
        detail.add_column(column, overflow="fold")
    for flip in report.flips[:200]:
        detail.add_row(
            flip.decision_id,
            flip.person_id,
            flip.document_id,
            flip.evaluated_at.isoformat(),
            "allow" if flip.was_allowed else ", ".join(flip.was),
            ("[bold red]allow[/]" if flip.now_allowed else ", ".join(flip.now)),
        )
    out.print(detail)
    if len(report.flips) > 200:
        out.print(f"... and {len(report.flips) - 200} more (use --json for all)")
    if report.widening:
        out.print(f"[bold red]{len(report.widening)} decisions would WIDEN access under the candidate policy.[/]")
