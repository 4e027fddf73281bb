"""`clearance-gateway registry provision add|end` and `registry provisions`: C5a from the shell."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from gateway.cli_admin import ActorOption, _actor, _date_option, _registry, _today, out, print_periods
from gateway.registry import provisions


def provision_add(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    organ: Annotated[str, typer.Argument(help="the receiving organ's id")],
    valid_from: Annotated[
        date | None, _date_option("first day of the provision (default: today, or unchanged)", "--from")
    ] = None,
    until: Annotated[date | None, _date_option("last day of the provision (default: open-ended)", "--until")] = None,
    actor: ActorOption = "cli",
) -> None:
    """Provide a designation to another organ (C5a).

    From --from on, that organ's staff on the roster are judged by their own organ's assessments.
    Run it again to change the current provision's dates."""
    with _registry() as (settings, engine):
        entry, created = provisions.provide(
            engine, _actor(actor, settings), designation, organ, valid_from, until, _today(settings)
        )
    verb = "provided to" if created else "stays provided to"
    out.print(f"{designation} {verb} {organ} from {entry['from']} until {entry['until'] or 'further notice'}")


def provision_end(
    designation: Annotated[str, typer.Argument(help="the designation's id")],
    organ: Annotated[str, typer.Argument(help="the receiving organ's id")],
    actor: ActorOption = "cli",
) -> None:
    """End a provision from today on (C5a).

    The receiving organ's staff lose access at once; the provision's earlier days stay on record."""
    with _registry() as (settings, engine):
        entry = provisions.end_provision(engine, _actor(actor, settings), designation, organ, _today(settings))
    out.print(f"{designation} is no longer provided to {organ}: the provision ended on {entry['until']}")


def provision_list(
    designation: Annotated[str | None, typer.Option(help="only this designation's provisions")] = None,
    organ: Annotated[str | None, typer.Option(help="only provisions to this organ")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List provisions (C5a) by designation and/or receiving organ, ended periods included."""
    with _registry() as (settings, engine):
        entries = provisions.list_provisions(engine, designation, organ, limit=None)["items"]
        today = _today(settings)
    print_periods(entries, "organ", "Provisions to other organs (C5a)", "No provisions match.", today, as_json)


def register(registry_app: typer.Typer) -> None:
    registry_app.command("provisions")(provision_list)
    app = typer.Typer(help="Provide designations to other organs, or end a provision (C5a).", no_args_is_help=True)
    app.command("add")(provision_add)
    app.command("end")(provision_end)
    registry_app.add_typer(app, name="provision")
