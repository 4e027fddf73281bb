"""Auditors at the command line: `audit decisions` (the API's filters) and `audit show ID`.

Read-only, like the rest of `audit`. Times are shown in the gateway's zone (Japan time) to the second.
C9: an audit answer names the facts used by id, never an assessment's content.
"""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from gateway import cli_audit_filters as f
from gateway.audit.query import get_decision, list_decisions
from gateway.db import READ_ONLY
from gateway.settings import Settings

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("decisions")(decisions_command)
    app.command("show")(show_command)


def local(instant: str) -> str:
    """An ISO instant as the auditor reads it: `2026-12-03 17:08:11` in the gateway's zone."""
    return datetime.fromisoformat(instant).astimezone(Settings().zone).strftime("%Y-%m-%d %H:%M:%S")


def decisions_command(
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
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="the API's items, one JSON object a line")] = False,
) -> None:
    """Decisions of the log, newest first, filtered as GET /v1/audit/decisions filters them."""
    from gateway.cli_audit import _database

    filters = f.decision_filter(
        person, document, decision, reason, organ, designation, caller, simulation, since, until, channel
    )
    with _database() as engine, engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        items, more = list_decisions(conn, filters, limit)
    if as_json:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
        return
    for line in _listing(items):
        out.print(line, markup=False)
    out.print(f"{len(items)} decisions, newest first" + (": more match (raise --limit)" if more else "."))


def _listing(items: list[dict[str, Any]]) -> list[str]:
    """One line a decision, its reason codes (and whether it was a simulation) below: readable at 80 columns,
    ids never wrapped."""
    who = [f"{item['person']} → {item['document']}" for item in items]
    width = max([len("person → document"), *map(len, who)])
    lines = [f"{'logged (JST)':<19}  {'decision id':<26}  {'person → document':<{width}}  result"]
    for item, subject in zip(items, who, strict=True):
        lines.append(f"{local(item['logged_at'])}  {item['decision_id']:<26}  {subject:<{width}}  {item['decision']}")
        notes = ["(simulation)"] if item["simulation"] else []
        notes += [r["code"] for r in item["reasons"]]
        if notes:
            lines += textwrap.wrap(", ".join(notes), 80, initial_indent=" " * 21, subsequent_indent=" " * 21)
    return lines


def show_command(
    decision_id: Annotated[str, typer.Argument(help="the decision id (X-Decision-Id, or from `audit decisions`)")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's item as JSON")] = False,
) -> None:
    """One decision: who asked about whom and what, the answer, every reason, and the ids of the facts used."""
    from gateway.cli_audit import _database

    with _database() as engine, engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        item = get_decision(conn, decision_id)
    if item is None:
        err.print(f"[red]No decision {decision_id} in the log.[/]", markup=True, highlight=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(item, ensure_ascii=False, indent=2))
        return
    for label, value in _lines(item):
        out.print(f"{label:<15} {value}", markup=False)


def _lines(item: dict[str, Any]) -> list[tuple[str, str]]:
    caller = item["caller"]["sub"] + (f" (client {item['caller']['client']})" if item["caller"]["client"] else "")
    lines = [
        ("decision", f"{item['decision_id']}: {item['decision']}" + (" (simulation)" if item["simulation"] else "")),
        ("logged", f"{local(item['logged_at'])} JST"),
        ("evaluated at", f"{local(item['evaluated_at'])} JST"),
        ("caller", f"{caller} via {item['channel']}"),
        ("person", item["person"]),
        ("document", item["document"]),
        ("action", item["action"]),
        ("policy", item["policy_version"]),
    ]
    lines += [("reason", f"{r['code']}: {r['message']}") for r in item["reasons"]]
    for name, value in item["facts"].items():
        if value is not None:  # a search's facts hold the ids it found, a list
            lines.append((f"fact {name}", ", ".join(value) if isinstance(value, list) else str(value)))
    return lines
