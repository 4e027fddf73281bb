"""The decision log's filters at the command line, the same as `GET /v1/audit/decisions` takes.

Instants carry an offset (`2026-04-01T09:00+09:00`, `...Z`); a day alone (`2026-04-01`) is that whole
day in the gateway's zone (Japan time): `--since` from its first moment, `--until` through its last.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated

import typer

from gateway.audit.query import DecisionFilter, parse_instant
from gateway.settings import Settings


class Result(StrEnum):
    allow = "allow"
    deny = "deny"


def instant(value: str, *, end_of_day: bool = False) -> datetime:
    """An instant with its offset, or a day in the gateway's zone; typer.BadParameter with a hint otherwise."""
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=Settings().zone)
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (or a day alone, YYYY-MM-DD, for that whole day in Japan time)") from exc


def _since(value: str | None) -> datetime | None:
    return None if value is None else instant(value)


def _until(value: str | None) -> datetime | None:
    return None if value is None else instant(value, end_of_day=True)


Person = Annotated[str | None, typer.Option(help="the person decided about")]
Document = Annotated[str | None, typer.Option(help="the document")]
Decision = Annotated[Result | None, typer.Option(help="allow or deny")]
Reason = Annotated[str | None, typer.Option(help="a reason code, e.g. not_on_roster")]
Organ = Annotated[str | None, typer.Option(help="the designating organ")]
Designation = Annotated[str | None, typer.Option(help="the document's designation")]
Caller = Annotated[str | None, typer.Option(help="the calling system (the token's sub)")]
Simulation = Annotated[
    bool | None, typer.Option("--simulation/--no-simulation", help="only simulations, or none; default both")
]
class Channel(StrEnum):
    authzen = "authzen"
    release = "release"
    search = "search"


ChannelOpt = Annotated[
    Channel | None,
    typer.Option("--channel", help="authzen (evaluations), release (document fetches) or search (AuthZEN searches)"),
]
Since = Annotated[
    datetime | None,
    typer.Option(parser=_since, metavar="WHEN", help="from this instant (2026-04-01T09:00+09:00) or day (2026-04-01)"),
]
Until = Annotated[
    datetime | None,
    typer.Option(parser=_until, metavar="WHEN", help="before this instant, or through this day (Japan time)"),
]


def decision_filter(
    person: str | None = None,
    document: str | None = None,
    decision: Result | None = None,
    reason: str | None = None,
    organ: str | None = None,
    designation: str | None = None,
    caller: str | None = None,
    simulation: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: Channel | None = None,
) -> DecisionFilter:
    if since is not None and until is not None and until <= since:
        raise typer.BadParameter("--until must be later than --since", param_hint="--until")
    return DecisionFilter(
        person=person,
        document=document,
        allowed=None if decision is None else decision is Result.allow,
        reason=reason,
        organ=organ,
        designation=designation,
        caller=caller,
        simulation=simulation,
        channel=None if channel is None else channel.value,
        since=since,
        until=until,
    )
