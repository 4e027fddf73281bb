"""Registry bundles at the command line: `registry import`, `import --dry-run`, `export`, `schema`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from gateway.errors import InvalidInput
from gateway.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep


def register(registry_app: typer.Typer) -> None:
    registry_app.command("import")(registry_import)
    registry_app.command("export")(registry_export)
    registry_app.command("schema")(registry_schema)


def registry_import(
    file: Annotated[
        Path,
        typer.Argument(help="a registry bundle (JSON; docs/bundle.md)", exists=True, dir_okay=False, readable=True),
    ],
    actor: Annotated[str, typer.Option(help="who is importing, for the change log (R4)")] = "cli",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list every record the import would create or update; write nothing")
    ] = False,
) -> None:
    """Import a registry bundle into the configured database: all of it, or nothing."""
    from gateway.cli import _engine_at_head
    from gateway.decision.policy import PolicyError
    from gateway.keys import master_key
    from gateway.policy.files import load_policy
    from gateway.registry.bundles import dry_run as preview
    from gateway.registry.bundles import parse_checked
    from gateway.registry.changes import Actor
    from gateway.registry.importer import import_bundle
    from gateway.store import DocumentStore, FilesystemBackend

    settings = Settings()
    engine = _engine_at_head(settings)
    try:
        rules = load_policy(settings.policy_dir).registry
    except PolicyError as exc:  # D2, D4: designations are checked against the policy's rules
        err.print(f"[red]The policy in {settings.policy_dir} does not load, so nothing can be checked:[/] {exc}")
        raise typer.Exit(1) from exc
    try:
        bundle = parse_checked(engine, file.read_bytes(), rules)
        if dry_run:
            result = preview(engine, bundle, Actor.now(actor, settings.zone), rules)
        else:
            store = DocumentStore(FilesystemBackend(settings.document_dir), master_key(settings))
            with _sections("importing") as step:
                result = import_bundle(
                    engine, bundle, Actor.now(actor, settings.zone), store, progress=step, rules=rules
                )
    except InvalidInput as exc:
        err.print(f"[red]{escape(exc.detail)}[/]")
        for error in exc.errors:
            err.print(f"  {error.path}: {error.detail}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if dry_run:
        _print_changes(result.changes)
    verb = "Would import" if dry_run else "Imported"
    table = Table(title=f"{verb} {file.name}" + ("" if result.changed else " (nothing changed)"))
    for column in ("section", "created", "updated", "unchanged"):
        table.add_column(column, justify="right" if column != "section" else "left")
    for name in result.created:
        table.add_row(name, str(result.created[name]), str(result.updated[name]), str(result.unchanged[name]))
    out.print(table)
    if dry_run:
        out.print("Dry run: nothing was written.")


@contextmanager
def _sections(doing: str) -> Iterator[Callable[[str, int], None]]:
    """A progress bar on stderr over the bundle's sections, each named with its count when done."""
    from gateway.registry.tables import ORDER

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(doing, total=len(ORDER))

        def step(name: str, count: int) -> None:
            progress.update(task, advance=1, description=f"{doing} {name}: {count}")

        yield step


def _print_changes(changes: list[dict[str, Any]]) -> None:
    if not changes:
        return
    table = Table(title="What the import would change")
    table.add_column("record", no_wrap=True)
    table.add_column("change", no_wrap=True)
    table.add_column("fields")
    for change in changes:
        created = change["before"] is None
        if created:
            fields = ""
        else:
            fields = "; ".join(f"{k}: {_shown(change['before'][k])} → {_shown(v)}" for k, v in change["after"].items())
        table.add_row(f"{change['entity']} {change['entity_id']}", "create" if created else "update", fields)
    out.print(table)


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def registry_export(
    output: Annotated[Path | None, typer.Option("--out", help="write the bundle here instead of stdout")] = None,
    contents: Annotated[
        bool, typer.Option("--contents", help="include each document's content (base64; decrypts every document)")
    ] = False,
) -> None:
    """Write the whole registry as a bundle that `registry import` takes back (docs/bundle.md)."""
    from gateway.cli import _engine_at_head
    from gateway.keys import master_key
    from gateway.registry.bundles import export_bundle
    from gateway.store import DocumentStore, FilesystemBackend

    settings = Settings()
    engine = _engine_at_head(settings)
    store = DocumentStore(FilesystemBackend(settings.document_dir), master_key(settings)) if contents else None
    try:
        with _sections("exporting") as step:
            bundle = export_bundle(engine, store, progress=step)
    finally:
        engine.dispose()
    text = json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        out.file.write(text)
        return
    output.write_text(text, encoding="utf-8")
    counts = ", ".join(f"{len(v)} {k}" for k, v in bundle.items())
    err.print(f"Exported to {output}: {counts}.", markup=False, highlight=False)


def registry_schema(
    output: Annotated[Path | None, typer.Option("--out", help="write the schema here instead of stdout")] = None,
) -> None:
    """Print the JSON Schema of a registry bundle, generated from the models the import validates with."""
    from gateway.registry.bundles import bundle_schema

    text = json.dumps(bundle_schema(), indent=2) + "\n"
    if output is None:
        out.file.write(text)
    else:
        output.write_text(text, encoding="utf-8")
