"""Documents at the command line (`clearance-gateway registry document ...`): list, show, upload, classify.

The same service functions as `/v1/admin/documents`: an upload is encrypted into the store and recorded
with its change event (R4) under `--actor`; a refusal prints its problem and exits 1.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli_admin import ActorOption, _dump, _print_record, _registry, out
from gateway.registry import documents
from gateway.registry.changes import Actor

app = typer.Typer(help="Documents' records, uploads and classification (D5).", no_args_is_help=True)
UNCLASSIFIED = "null"


def register(registry_app: typer.Typer) -> None:
    registry_app.add_typer(app, name="document")


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many, by id")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="skip this many first")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of lines")] = False,
) -> None:
    """Documents' records by id: designation, media type and size (never their content)."""
    with _registry() as (_settings, engine):
        page = documents.list_documents(engine, limit, offset)
    if as_json:
        _dump(page)
        return
    for item in page["items"]:
        classified = item["designation_id"] or "unclassified"
        out.print(f"{item['id']}  {classified}  {item['size']} bytes  {item['title']}", markup=False, highlight=False)
    out.print(f"{len(page['items'])} of {page['total']} documents", highlight=False)


@app.command("show")
def show_command(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="the document's id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """One document's record: title, designation, media type, size and sha256."""
    with _registry() as (_settings, engine):
        record = documents.get_document(engine, document_id)
    if as_json:
        _dump(record)
    else:
        _print_record(record, f"document {document_id}")


@app.command("upload")
def upload_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the content")],
    document_id: Annotated[str, typer.Option("--id", help="the document's id")],
    title: Annotated[str, typer.Option(help="its title")],
    designation: Annotated[str | None, typer.Option(help="the designation it carries; none: unclassified")] = None,
    media_type: Annotated[str | None, typer.Option(help="default: guessed from the file name")] = None,
    actor: ActorOption = "cli",
) -> None:
    """Store a document's content, encrypted, and its record (a new document, or a new version of one)."""
    from gateway.keys import master_key
    from gateway.store import DocumentStore, FilesystemBackend

    def chunks() -> Any:
        with file.open("rb") as handle:
            while piece := handle.read(1024 * 1024):
                yield piece

    with _registry() as (settings, engine):
        store = DocumentStore(FilesystemBackend(settings.document_dir), master_key(settings))
        row = documents.upload(
            engine,
            store,
            Actor.now(actor, settings.zone),
            document_id=document_id,
            title=title,
            media_type=media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            designation_id=designation,
            content=chunks(),
        )
    marking = row["designation_id"] or "unclassified"
    out.print(f"stored {document_id} ({row['size']} bytes, {marking}), sha256 {row['sha256']}", highlight=False)


@app.command("classify")
def classify_command(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="the document's id")],
    designation: Annotated[str, typer.Argument(help=f"the designation it now carries, or {UNCLASSIFIED}")],
    actor: ActorOption = "cli",
) -> None:
    """Re-classify a document under another designation, or declassify it with `null`."""
    target = None if designation == UNCLASSIFIED else designation
    with _registry() as (settings, engine):
        documents.classify(engine, Actor.now(actor, settings.zone), document_id, target)
    out.print(f"{document_id} is now {target or 'unclassified'}", highlight=False)
