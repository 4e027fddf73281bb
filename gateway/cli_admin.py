"""Registry administration commands (`clearance-gateway registry ...`)."""

from __future__ import annotations

import typer


def register(registry_app: typer.Typer) -> None:
    """Add the administration commands to the `registry` group."""
