"""`policy diff`, second section: the logged decisions replayed under the candidate."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from gateway.decision.policy import Policy
from gateway.policy.replay import DiffReport
from gateway.settings import Settings


def replay_logged(
    policy: Policy,
    settings: Settings,
    since: datetime | None,
    until: datetime | None,
    simulations: bool,
    err: Console,
) -> DiffReport:
    """Replay the logged decisions (by their recorded facts and instant) under `policy`."""
    from sqlalchemy import func, select

    from gateway.db import READ_ONLY, make_engine
    from gateway.policy.replay import replay
    from models import DecisionRecord

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
    conditions.append(table.c.channel != "search")  # a search's record holds no decision to replay
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
            "channel",
            "facts",
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
    return report


def print_replay(report: DiffReport, version: str, out: Console) -> None:
    out.print(
        f"Replayed {report.replayed} decisions under {version[:19]}…: {len(report.flips)} would flip, "
        f"{report.unchanged} unchanged"
        + (f", {report.without_inputs} without recorded facts (skipped)" if report.without_inputs else "")
    )
    if not report.flips:
        return
    from gateway.decision.impact_report import change_kind

    groups = Table(title="Flips, grouped by reason")
    for column in ("was", "would be", "decisions", ""):
        groups.add_column(column)
    for (was_allowed, was, now_allowed, now), count in report.groups().most_common():
        kind = change_kind((was_allowed, was), (now_allowed, now))
        groups.add_row(
            "allow" if was_allowed else ", ".join(was),
            "allow" if now_allowed else ", ".join(now),
            str(count),
            "[bold red]WIDENS ACCESS[/]" if kind == "widens" else str(kind),
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
