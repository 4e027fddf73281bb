"""Registry administration commands (`clearance-gateway registry ...`).

They work directly on the configured database (GATEWAY_DATABASE_URL), through the same service
functions as the HTTP API, so each change is written with its change event (R4) under `--actor`.
A refusal prints the problem and each bad field, changes nothing, and exits 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from gateway.decision.calendar import local_day
from gateway.decision.policy_registry import RegistryRules
from gateway.errors import Problem
from gateway.problem_details import kind_of
from gateway.registry import admin, lifecycle, rosters
from gateway.registry.changes import Actor
from gateway.registry.expiring import expiring as expiring_items
from gateway.registry.expiring import parse_window
from gateway.settings import Settings

out = Console()
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep
SOON_DAYS = 30  # items with fewer days left are shown in red

ActorOption = Annotated[str, typer.Option("--actor", help="who makes the change, for the change log (R4)")]


class StatusKind(StrEnum):
    assessment = "assessment"
    certification = "certification"


class Entity(StrEnum):
    organ = "organ"
    operator = "operator"
    person = "person"
    assessment = "assessment"
    certification = "certification"
    designation = "designation"
    contract = "contract"


PLURAL = {singular: plural for plural, singular in admin.SINGULAR.items()}


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day: write YYYY-MM-DD") from exc


def _date_option(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, parser=_iso_date, metavar="YYYY-MM-DD")


@contextmanager
def _registry() -> Iterator[tuple[Settings, Engine]]:
    """The configured database, migrated at need as the service would be (GATEWAY_AUTO_MIGRATE); a
    schema refused, or a refusal of the change, exits 1 with the reason."""
    from gateway.db import SchemaRefused, ensure_schema, make_engine

    settings = Settings()
    refuse_missing_database(settings)
    engine = make_engine(settings)
    try:
        try:
            ensure_schema(engine, settings.auto_migrate)
        except SchemaRefused as exc:
            err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            raise typer.Exit(1) from exc
        yield settings, engine
    except Problem as exc:
        _print_problem(exc)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


def _rules(settings: Settings) -> RegistryRules:
    """The policy's registry rules (D2 limits, D4 catalogue); a policy that does not load exits 1."""
    from gateway.decision.policy import PolicyError
    from gateway.policy.files import load_policy

    try:
        return load_policy(settings.policy_dir).registry
    except PolicyError as exc:
        err.print(f"[red]The policy in {settings.policy_dir} does not load:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


def refuse_missing_database(settings: Settings) -> None:
    """A SQLite file that is not there means the settings point elsewhere: say which to set, make nothing."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database).resolve()
    if not path.exists():
        err.print(
            f"[red]No gateway database at {path}.[/] Set GATEWAY_DATABASE_URL (in the environment or a .env "
            "file in this folder) to the gateway's database, or run from the folder that holds it. "
            "For the demo: python3 tasks.py cli ...",
            highlight=False,
        )
        raise typer.Exit(1)


def _print_problem(problem: Problem) -> None:
    err.print(f"[red]{kind_of(problem).title}:[/] {escape(problem.detail)}", highlight=False)
    for error in getattr(problem, "errors", []):
        err.print(f"  {error.path}: {error.detail}", markup=False, highlight=False)


def _today(settings: Settings) -> date:
    return local_day(datetime.now(UTC), settings.zone)


def _actor(actor: str, settings: Settings) -> Actor:
    """The operator, and the day of the change in the configured zone (the history dates it)."""
    return Actor.now(actor, settings.zone)


def _print_record(record: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        shown = _shown(value)
        table.add_row(key, shown)
    out.print(table)


def _shown(value: Any) -> str:
    """A field's value in a table cell: a list of records (a roster, status periods) one per line."""
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            return "\n".join(" ".join(str(v) for v in item.values() if v is not None) for item in value)
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, default=str, ensure_ascii=False, indent=2))


# --- commands ------------------------------------------------------------------------------------


def expiring(
    within: Annotated[str, typer.Option(help="the window: 90d, 12w or a number of days")] = "90d",
    on: Annotated[date | None, _date_option("count from this day instead of today", "--on")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List what runs out soon, soonest first.

    Clearances, by the running policy's validity periods (C3); only the assessment that counts (C4).
    Contracts, by their last day (B3). Designations that are not cancelled, by their expiry (D2).
    Fewer than 30 days left are shown in red.
    """
    from gateway.decision.policy import PolicyError
    from gateway.policy.files import load_policy

    try:
        days = parse_window(within)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--within") from exc
    with _registry() as (settings, engine):
        try:
            policy = load_policy(settings.policy_dir)
        except PolicyError as exc:
            err.print(f"[red]The policy in {settings.policy_dir} cannot be loaded:[/]")
            for problem in exc.problems:
                err.print(f"  {problem}", markup=False)
            raise typer.Exit(1) from exc
        today = on or _today(settings)
        items = expiring_items(engine, days, today, policy)
    if as_json:
        _dump({"today": today.isoformat(), "within_days": days, "items": [i.as_dict() for i in items]})
        return
    table = Table(title=f"Expiring within {days} days of {today}")
    for column in ("kind", "id", "concerns", "last day", "days left"):
        table.add_column(column, justify="right" if column == "days left" else "left", no_wrap=column != "concerns")
    for item in items:
        concerns = ", ".join(f"{k} {v}" for k, v in item.concerns.items())
        style = "red" if item.days_left < SOON_DAYS else None
        table.add_row(item.kind, item.id, concerns, item.last_day.isoformat(), str(item.days_left), style=style)
    out.print(table if items else f"Nothing expires within {days} days of {today}.")


def _transition(name: str, kind: StatusKind, entity_id: str, actor: str) -> None:
    with _registry() as (settings, engine):
        result = lifecycle.transition(engine, _actor(actor, settings), PLURAL[kind.value], entity_id, name)
    out.print(f"{kind.value} {entity_id}: {result['before']['status']} -> [bold]{result['after']['status']}[/]")


def suspend(
    kind: Annotated[StatusKind, typer.Argument(help="assessment (C7) or certification (B3)")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="the record's id")],
    actor: ActorOption = "cli",
) -> None:
    """Suspend an active clearance or certification: access is denied until it is reinstated."""
    _transition("suspend", kind, entity_id, actor)


def reinstate(
    kind: Annotated[StatusKind, typer.Argument(help="assessment (C7) or certification (B3)")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="the record's id")],
    actor: ActorOption = "cli",
) -> None:
    """Reinstate a suspended clearance or certification."""
    _transition("reinstate", kind, entity_id, actor)


def revoke(
    kind: Annotated[StatusKind, typer.Argument(help="assessment (C7) or certification (B3)")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="the record's id")],
    actor: ActorOption = "cli",
) -> None:
    """Revoke an active or suspended clearance or certification. Final: it cannot be undone (C7)."""
    _transition("revoke", kind, entity_id, actor)


def extend(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    to: Annotated[date, _date_option("the new last day in force", "--to")],
    cabinet_ref: Annotated[
        str | None, typer.Option("--cabinet-ref", help="the Cabinet approval, needed past 30 years (D2)")
    ] = None,
    actor: ActorOption = "cli",
) -> None:
    """Extend a designation's period (D2).

    The policy's limits for the designation's scheme apply (policy/designations.csv; shipped: each
    extension adds at most 5 years, past 30 years from the designation only with --cabinet-ref). The
    extension is entered in the designation's ledger (D6).
    """
    with _registry() as (settings, engine):
        after = lifecycle.extend(
            engine, _actor(actor, settings), designation, to, cabinet_ref, _today(settings), _rules(settings)
        )
    out.print(f"designation {designation} is now in force through [bold]{after['expires_on']}[/]")


def cancel(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    on: Annotated[date, _date_option("the day the cancellation takes effect", "--on")],
    actor: ActorOption = "cli",
) -> None:
    """Cancel (解除) a designation from a day on (D3); recorded once in its ledger (D6)."""
    with _registry() as (settings, engine):
        lifecycle.cancel(engine, _actor(actor, settings), designation, on)
    out.print(f"designation {designation} is cancelled from [bold]{on}[/]")


def correct_cancellation(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    on: Annotated[date, _date_option("the day the cancellation really took effect (may be past)", "--on")],
    reason: Annotated[str, typer.Option(help="why the record is corrected (kept in the change log)")],
    actor: ActorOption = "cli",
) -> None:
    """Correct the day a designation's cancellation took effect, with the reason (D3, D6).

    The one way to date a cancellation back: a separate action, entered in the ledger as `corrected`
    and in the change log with its reason. Decisions already logged keep the basis they were made on.
    """
    from gateway.registry.corrections import correct_cancellation as correct

    with _registry() as (settings, engine):
        correct(engine, _actor(actor, settings), designation, on, reason)
    out.print(f"designation {designation}: its cancellation is corrected to [bold]{on}[/]")


def roster_add(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    person: Annotated[str, typer.Argument(help="the person's id")],
    valid_from: Annotated[
        date | None, _date_option("first day on the roster (default: today, or unchanged)", "--from")
    ] = None,
    until: Annotated[date | None, _date_option("last day on the roster (default: open-ended)", "--until")] = None,
    actor: ActorOption = "cli",
) -> None:
    """Put a person on a designation's handler roster, or change the entry's dates (N1)."""
    with _registry() as (settings, engine):
        entry, created = rosters.put_roster(
            engine, _actor(actor, settings), designation, person, valid_from, until, _today(settings)
        )
    verb = "added to" if created else "on"
    out.print(
        f"{person} {verb} the roster of {designation} from {entry['from']} until {entry['until'] or 'further notice'}"
    )


def roster_remove(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    person: Annotated[str, typer.Argument(help="the person's id")],
    actor: ActorOption = "cli",
) -> None:
    """Take a person off a designation's handler roster (N1): they lose access at once."""
    with _registry() as (settings, engine):
        rosters.delete_roster(engine, _actor(actor, settings), designation, person, _today(settings))
    out.print(f"{person} removed from the roster of {designation}")


def roster_list(
    designation: Annotated[str | None, typer.Option(help="only this designation's roster")] = None,
    person: Annotated[str | None, typer.Option(help="only this person's entries")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List roster entries (N1) by designation and/or person, ended periods included."""
    with _registry() as (settings, engine):
        entries = rosters.list_roster(engine, designation, person, limit=None)["items"]
        today = _today(settings)
    print_periods(entries, "person", "Handler roster entries (N1)", "No roster entries match.", today, as_json)


def print_periods(
    entries: list[dict[str, Any]], holder: str, title: str, none: str, today: date, as_json: bool
) -> None:
    """Periods of (designation, holder) (rosters, provisions) as JSON, or a table with each one's state today."""
    if as_json:
        _dump(entries)
        return
    if not entries:
        out.print(none)
        return
    table = Table(title=title)
    for column in ("designation", holder, "from", "until", "today"):
        table.add_column(column, overflow="fold")
    for e in entries:
        state = _period_state(e["from"], e["until"], today)
        until = e["until"].isoformat() if e["until"] else ""
        table.add_row(e["designation_id"], e[f"{holder}_id"], e["from"].isoformat(), until, state)
    out.print(table)


def _period_state(start: date, until: date | None, today: date) -> str:
    if today < start:
        return "not yet"
    return "in force" if until is None or today <= until else "ended"


def show(
    entity: Annotated[Entity, typer.Argument(help="what kind of record")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="the record's id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Show one registry record as it is stored (C9: assessments hold only what decisions need)."""
    with _registry() as (settings, engine):
        record = admin.get_record(engine, PLURAL[entity.value], entity_id)
    if as_json:
        _dump(record)
    else:
        _print_record(record, f"{entity.value} {entity_id}")


def delete(
    entity: Annotated[Entity, typer.Argument(help="what kind of record")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="the record's id")],
    actor: ActorOption = "cli",
) -> None:
    """Delete a registry record nothing refers to (refused while referenced; designations never: D6)."""
    with _registry() as (settings, engine):
        admin.delete_record(engine, _actor(actor, settings), PLURAL[entity.value], entity_id)
    out.print(f"deleted {entity.value} {entity_id}")


def register(registry_app: typer.Typer) -> None:
    """Add the administration commands to the `registry` group."""
    for command in (expiring, suspend, reinstate, revoke, extend, cancel, show, delete):
        registry_app.command(command.__name__)(command)
    registry_app.command("correct-cancellation")(correct_cancellation)
    registry_app.command("rosters")(roster_list)
    roster_app = typer.Typer(help="Add people to, or remove them from, handler rosters (N1).", no_args_is_help=True)
    roster_app.command("add")(roster_add)
    roster_app.command("remove")(roster_remove)
    registry_app.add_typer(roster_app, name="roster")
