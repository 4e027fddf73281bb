"""Audit commands (`clearance-gateway audit ...`): export the decision log, the annual report (R3).

They read the configured database (GATEWAY_DATABASE_URL) directly, in read-only transactions, and
never write to it. C9: exports carry no raw decision inputs; the report is counts only.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from gateway import cli_audit_filters as f
from gateway.audit import export as exports
from gateway.audit.query import count_decisions, decision_chunks
from gateway.audit.report import (
    ACTS,
    ASSESSMENT_FIGURES,
    DESIGNATION_FIGURES,
    MAX_YEAR,
    MIN_YEAR,
    annual_report,
    flat_rows,
)
from gateway.db import READ_ONLY, make_engine
from gateway.settings import Settings

app = typer.Typer(
    help="Read the decision and change logs: list, show and export decisions, the annual report to the Diet (R3).",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep


@contextmanager
def _database() -> Iterator[Engine]:
    """The configured database, which must already hold the gateway's logs (nothing is created)."""
    settings = Settings()
    url = make_url(settings.database_url)
    missing_file = url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file()
    engine = None if missing_file else make_engine(settings)
    try:
        if engine is None or not inspect(engine).has_table("decisions"):
            shown = url.render_as_string(hide_password=True)
            err.print(f"[red]No gateway database at {shown}[/] (set GATEWAY_DATABASE_URL)", highlight=False)
            raise typer.Exit(1)
        yield engine
    finally:
        if engine is not None:
            engine.dispose()


@app.command("export")
def export_command(
    fmt: Annotated[exports.ExportFormat, typer.Option("--format", help="csv (flat) or jsonl (the API's items)")] = (
        exports.ExportFormat.csv
    ),
    person: f.Person = None,
    document: f.Document = None,
    decision: f.Decision = None,
    reason: f.Reason = None,
    organ: f.Organ = None,
    designation: f.Designation = None,
    caller: f.Caller = None,
    simulation: f.Simulation = None,
    channel: f.ChannelOpt = None,
    since: f.Since = None,
    until: f.Until = None,
    out_file: Annotated[Path | None, typer.Option("--out", dir_okay=False, help="write here (default: stdout)")] = None,
) -> None:
    """Export the decisions that match the filters (those of `audit decisions`), newest first, streamed in chunks.

    CSV cells that a spreadsheet would run as formulas are prefixed with a quote.
    """
    filters = f.decision_filter(
        person, document, decision, reason, organ, designation, caller, simulation, since, until, channel
    )
    with _database() as engine:
        if out_file is None:
            _write(typer.get_binary_stream("stdout"), fmt, decision_chunks(engine, filters))
            return
        with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
            total = count_decisions(conn, filters)
        with (
            out_file.open("wb") as sink,
            Progress(
                TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
            ) as progress,
        ):
            task = progress.add_task("export", total=total)

            def counted() -> Iterator[list[dict[str, Any]]]:
                for chunk in decision_chunks(engine, filters):
                    yield chunk
                    progress.advance(task, len(chunk))

            _write(sink, fmt, counted())
    err.print(f"{total} decisions written to {out_file}", highlight=False)


def _write(sink: IO[bytes], fmt: exports.ExportFormat, chunks: Iterator[list[dict[str, Any]]]) -> None:
    for piece in exports.encode(fmt, chunks):
        sink.write(piece)
    sink.flush()


class Scheme(StrEnum):
    esi = "esi"
    sds = "sds"


@app.command("report")
def report_command(
    year: Annotated[int, typer.Option(min=MIN_YEAR, max=MAX_YEAR, help="the calendar year, YYYY")],
    csv_file: Annotated[
        Path | None, typer.Option("--csv", dir_okay=False, help="also write the figures as CSV here")
    ] = None,
    scheme: Annotated[Scheme | None, typer.Option(help="one Act only: esi or sds (default: both, each apart)")] = None,
) -> None:
    """The figures of rule R3 per organ for a calendar year, each Act apart (counts only, never who).

    Per Act: designations made, in force at year-end, cancelled and expired; assessments carried
    out, favourable and unfavourable (per assessing organ); designations per category. Then the
    certifications of operators, which name no Act.
    """
    schemes = (scheme.value,) if scheme else tuple(ACTS)
    with _database() as engine, engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        report = annual_report(conn, year, schemes)
    rows = flat_rows(report)
    for table in _tables(report):
        out.print(table)
    for row in rows:
        if not row["scheme"] and row["organ_id"]:
            out.print(f"{row['organ_id']}: {row['name']}", highlight=False, markup=False)
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as sink:
            writer = csv.DictWriter(sink, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: exports.safe_cell(str(v)) for k, v in row.items()} for row in rows)
        err.print(f"figures written to {csv_file}", highlight=False)


def _tables(report: dict[str, Any]) -> list[Table]:
    """Narrow tables (readable at 80 columns): per Act, its designations, its assessments and its
    categories; then the certifications of operators."""
    year, tables = report["year"], []
    for scheme, act in report["acts"].items():
        name = scheme.upper()
        for title, group, figures in (
            ("designations per organ", "designations", DESIGNATION_FIGURES),
            ("assessments per organ", "assessments", ASSESSMENT_FIGURES),
        ):
            table = Table(title=f"Annual report {year}, {name} Act (R3): {title}")
            table.add_column("organ", no_wrap=True)
            for figure in figures:
                label = figure.replace("_", " ").replace("in force at year end", "in force 31 Dec")
                table.add_column(label, justify="right")
            for organ in act["organs"]:
                table.add_row(organ["organ_id"], *(str(organ[group][f]) for f in figures))
            table.add_row("Total", *(str(act["totals"][group][f]) for f in figures), style="bold")
            tables.append(table)
        if act["categories"]:
            table = Table(title=f"Annual report {year}, {name} Act (R3): designations per category (D4)")
            table.add_column("category", overflow="fold")
            table.add_column("made", justify="right")
            table.add_column("in force 31 Dec", justify="right")
            for c in act["categories"]:
                table.add_row(c["category"], str(c["made"]), str(c["in_force_at_year_end"]))
            tables.append(table)
    certified = Table(title=f"Annual report {year} (R3): operators certified (B1; no Act named)")
    certified.add_column("organ", no_wrap=True)
    certified.add_column("certified", justify="right")
    for organ in report["certifications"]["organs"]:
        certified.add_row(organ["organ_id"], str(organ["certified"]))
    certified.add_row("Total", str(report["certifications"]["total"]), style="bold")
    return [*tables, certified]


@app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against", exists=True, dir_okay=False, help="also check the checkpoints kept in this file (--export)"
        ),
    ] = None,
) -> None:
    """Check every entry of the decision and change logs and every signed checkpoint (R2); exit 1 if broken.

    A checkpoint is required at every GATEWAY_CHECKPOINT_EVERY decisions up to the head.
    """
    import json

    from gateway.audit import kept as kept_checkpoints
    from gateway.audit.chain import verify
    from gateway.keys import checkpoint_signer

    settings = Settings()
    kept = None
    if against is not None:
        try:
            kept = kept_checkpoints.load(against)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--against") from exc
    with _database() as engine:
        public = checkpoint_signer(settings).public_key if _checkpoint_key_known(settings) else None
        with Progress(
            TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("verify", total=None)
            report = verify(
                engine,
                public,
                progress=lambda n: progress.advance(task, n),
                every=settings.checkpoint_every,
                kept=kept,
            )
    body = report.as_dict()
    if as_json:
        print(json.dumps(body, indent=2, default=str))
    elif report.ok:
        chains = ", ".join(
            f"{name}: {c['checked']} entries, {c['checkpoints']} checkpoints" for name, c in body["chains"].items()
        )
        out.print(f"[green]OK[/] {body['checked']} entries verified ({chains})")
        if public is None:
            out.print("[yellow]No checkpoint key configured here: signatures were not checked.[/]")
    else:
        bad = body["first_bad"]
        where = ", ".join(f"{k} {v}" for k, v in bad.items() if k not in ("chain", "index", "problem"))
        out.print(
            f"[bold red]BROKEN[/] {bad['chain']} log, entry {bad['index']}: {bad['problem']}"
            + (f" ({where})" if where else "")
        )
    raise typer.Exit(0 if report.ok else 1)


@app.command("checkpoint")
def checkpoint_command(
    export_file: Annotated[
        Path | None,
        typer.Option("--export", dir_okay=False, help="then write every signed checkpoint to this file (kept apart)"),
    ] = None,
) -> None:
    """Sign the current head of both logs now (run it from cron, e.g. hourly, beside the automatic ones).

    With --export, every signed checkpoint is also written to FILE (added to what it held): keep it where
    the database's owner cannot write, and check the log against it with `audit verify --against FILE`.
    """
    from gateway.audit import kept
    from gateway.audit.chain import checkpoint_now
    from gateway.keys import checkpoint_signer

    with _database() as engine:
        made = checkpoint_now(engine, checkpoint_signer(Settings()))
        for row in made:
            out.print(f"signed {row['chain']} at entry {row['chain_index']}: {row['hash'][:16]}… (key {row['key_id']})")
        if not made:
            out.print("both logs are empty: nothing to sign")
        if export_file is not None:
            try:
                count = kept.export(engine, export_file)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--export") from exc
            out.print(f"{count} signed checkpoints in {export_file}")


def _checkpoint_key_known(settings: Settings) -> bool:
    """The configured key, or the development key beside the documents if one was made already."""
    if settings.checkpoint_key_file is not None:
        return True
    return (settings.document_dir.parent / "dev-checkpoint-key.pem").exists()


def _register() -> None:
    from gateway import cli_audit_log

    cli_audit_log.register(app)


_register()
