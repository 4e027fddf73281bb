"""Numbers as the tables print them."""

from __future__ import annotations


def n(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def us(value: float | None) -> str:
    """A latency given in µs, shown in ms from 10 ms on."""
    if value is None:
        return "-"
    return f"{value / 1000:,.1f} ms" if value >= 10_000 else f"{value:,.1f} µs"


def ok(flag: bool | None) -> str:
    if flag is None:
        return "[yellow]-[/]"
    return "[green]yes[/]" if flag else "[bold red]NO[/]"
