"""Policy commands (`clearance-gateway policy ...`): test, check, diff, show, apply, eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.cli_policy_diff import diff_command, eval_command
from gateway.settings import Settings

app = typer.Typer(help="Test, check, compare and show the Casbin policy in policy/.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep
DirArg = Annotated[Path | None, typer.Argument(help="policy folder (default: GATEWAY_POLICY_DIR, else ./policy)")]


def _directory(directory: Path | None) -> Path:
    return directory or Settings().policy_dir


def _load(directory: Path):
    from gateway.decision.policy import PolicyError
    from gateway.policy.files import load_policy

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
    from gateway.policy.suites import junit_xml, run_all

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
    from gateway.policy.coverage import check

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


@app.command("apply")
def apply_command(
    candidate: Annotated[Path, typer.Argument(help="the candidate folder", exists=True, file_okay=False)],
    to: Annotated[Path | None, typer.Option(help="the live policy folder (default: GATEWAY_POLICY_DIR)")] = None,
) -> None:
    """Check and test CANDIDATE (its own tests/), then swap it in for the live folder atomically."""
    from gateway.decision.policy import PolicyError
    from gateway.policy.apply import apply

    live = _directory(to)
    try:
        policy, previous = apply(candidate, live, Settings().zone)
    except PolicyError as exc:
        err.print(f"[red]{candidate} is not applied; {live} is unchanged:[/]")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    out.print(f"[green]Applied[/] {policy.version} to {live}; the previous policy is in {previous}")


@app.command("show")
def show_command(
    directory: DirArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as JSON (as GET /v1/admin/policy)")] = False,
) -> None:
    """What the policy grants, requires and exempts, in words (deny rows and local reasons included)."""
    from gateway.policy.words import describe

    policy = _load(_directory(directory))
    if as_json:
        out.print_json(json.dumps(policy.summary))
        return
    out.print(f"Policy {policy.version}", highlight=False)
    for line in describe(policy):
        out.print(line, markup=False, highlight=False)


app.command("diff")(diff_command)
app.command("eval")(eval_command)
