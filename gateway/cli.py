"""The `clearance-gateway` command."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from gateway.auth import SCOPES
from gateway.settings import Settings


def _flags_without_type(display_type_rich):
    """Typer labels an on/off flag `<bool>` in --help, although it takes no value: show nothing there."""

    def label(self, ctx):
        return None if self.is_flag else display_type_rich(self, ctx)

    return label


TyperOption.display_type_rich = _flags_without_type(TyperOption.display_type_rich)  # type: ignore[method-assign]
app = typer.Typer(
    help="clearance-gateway: policy-as-code access control for designated information.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion for bash, zsh, fish and PowerShell
)
registry_app = typer.Typer(
    help="Load and inspect the registry (organs, persons, clearances, designations...).", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep


@app.callback()
def _logging(ctx: typer.Context) -> None:
    """Warnings (a development key) go to stderr as JSON lines, never into a command's output. Commands
    other than `serve` and `log-writer` log warnings only, unless GATEWAY_LOG_LEVEL asks for more."""
    import os

    from gateway.logging_setup import configure_logging

    if ctx.invoked_subcommand not in ("serve", "log-writer"):
        configure_logging(os.environ.get("GATEWAY_LOG_LEVEL", "WARNING"))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (each keeps its own caches)")] = 1,
    demo: Annotated[bool, typer.Option(help="load the demo registry first and print the cases to try")] = False,
    tls_cert: Annotated[
        Path | None, typer.Option(help="serve HTTPS with this certificate chain (PEM; or GATEWAY_TLS_CERT_FILE)")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="the certificate's private key (PEM; or GATEWAY_TLS_KEY_FILE)")
    ] = None,
    log_writer: Annotated[
        bool,
        typer.Option(
            "--log-writer/--no-log-writer",
            help="write the decision log from one writer process shared by the workers (the default); "
            "--no-log-writer: each worker writes from a thread of its own",
        ),
    ] = True,
) -> None:
    """Start the gateway. With no configuration: SQLite in the working directory, policy from ./policy.

    Outside development mode it needs its keys and GATEWAY_PUBLIC_URL, the https URL callers reach it
    at; TLS ends here (--tls-cert and --tls-key) or at a proxy in front."""
    import contextlib
    import os

    from gateway import dev_mode
    from gateway.audit.log_writer import WriterFailed, writer_process
    from gateway.cli_demo import ensure_port_free, import_demo, print_dev_tokens
    from gateway.container import build_container
    from gateway.db import SchemaRefused
    from gateway.logging_setup import configure_logging

    ensure_port_free(host, port)
    for variable, given in (("GATEWAY_TLS_CERT_FILE", tls_cert), ("GATEWAY_TLS_KEY_FILE", tls_key)):
        if given is not None:
            os.environ[variable] = str(given)  # workers read the same settings
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums the workers' counters through files here (prometheus-client's multiprocess mode)
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="clearance-gateway-metrics-")
    if demo:  # the demo is development mode by definition; workers inherit the setting
        os.environ[dev_mode.ENV] = "true"
    settings = Settings()
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        err.print("[red]The gateway will not start:[/] TLS needs a certificate and its key (--tls-cert, --tls-key)")
        raise typer.Exit(2)
    if settings.public_url is None and settings.dev_mode:  # development: the address served, as reached
        scheme = "https" if settings.tls_cert_file else "http"
        os.environ["GATEWAY_PUBLIC_URL"] = f"{scheme}://{host}:{port}"
        settings = Settings()
    configure_logging(settings.log_level)
    try:
        dev_mode.require_keys(settings)
    except dev_mode.DevelopmentKeysRefused as exc:
        err.print(f"[red]The gateway will not start:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    try:
        container = build_container(settings)
    except SchemaRefused as exc:
        err.print(f"[red]The gateway will not start:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    if demo:
        import_demo(container, _where(settings))
    if container.dev_issuer is not None:
        print_dev_tokens(container, host, port, demo)
    container.close()
    with contextlib.ExitStack() as stack:
        if log_writer and settings.log_socket is None:
            try:
                socket_path = stack.enter_context(writer_process())
            except WriterFailed as exc:
                err.print(f"[red]The gateway will not start:[/] {escape(str(exc))}", soft_wrap=True)
                raise typer.Exit(1) from exc
            os.environ["GATEWAY_LOG_SOCKET"] = str(socket_path)  # the workers' settings name the writer
            stack.callback(os.environ.pop, "GATEWAY_LOG_SOCKET", None)  # gone with the writer
        run_server("gateway.asgi:app", settings, host, port, workers)


@app.command("log-writer")
def log_writer_command(
    socket: Annotated[Path, typer.Option(help="the Unix socket to listen on (created mode 0600)")],
    attached: Annotated[
        bool,
        typer.Option(help="stop when standard input closes, ignoring SIGINT and SIGTERM (how `serve` runs it)"),
    ] = False,
) -> None:
    """Run the host's decision-log writer: workers hand it their decisions and answer once it has
    committed them. `serve` starts one for its workers; run it yourself only to share one writer
    between gateways started otherwise (set GATEWAY_LOG_SOCKET for them)."""
    import asyncio
    import gc

    from gateway.audit.decision_sink import DecisionSink
    from gateway.audit.log_writer import event_loop_factory, serve_writer
    from gateway.db import make_engine
    from gateway.keys import checkpoint_signer
    from gateway.logging_setup import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings)
    sink = DecisionSink(engine, checkpoint_signer(settings))
    # What is loaded now lives as long as the process: out of the collector's sight. The records of a
    # commit die by reference counting; scanning every module's objects again and again cost the
    # writer a sixth of its time (py-spy, under load).
    gc.collect()
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve_writer(sink, socket, attached=attached))
    finally:
        sink.close()
        engine.dispose()


def run_server(app_path: str, settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve the ASGI app at `app_path` as `serve` does (also the benchmark's measurement 15)."""
    import uvicorn

    from gateway import listeners
    from gateway.http_protocol import BoundedHttpProtocol

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": "warning",
        "access_log": False,
        "http": BoundedHttpProtocol,  # header size and header-read time bounded (gateway/http_protocol.py)
        "timeout_keep_alive": 5,
        "proxy_headers": False,  # GATEWAY_TRUSTED_PROXIES: the app itself believes the proxies it is told to
        # SIGTERM: stop accepting, let in-flight requests finish, then the lifespan flushes the log
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_seconds),
        "ssl_certfile": str(settings.tls_cert_file) if settings.tls_cert_file else None,
        "ssl_keyfile": str(settings.tls_key_file) if settings.tls_key_file else None,
    }
    if workers == 1 or not listeners.spread_supported():
        uvicorn.run(app_path, **options)
        return
    # Several workers: a listening socket each, so that connections opened together are spread over
    # them (gateway/listeners.py); uvicorn's supervisor starts, watches and stops the workers as usual.
    from uvicorn.supervisors import Multiprocess

    from gateway.cli_demo import ensure_port_free

    config = uvicorn.Config(app_path, **options)
    ensure_port_free(host, port)  # again, just before: a socket a worker would share a port already taken
    err.print(f"listening on {host}:{port}: {workers} workers, a socket each (connections spread by the kernel)")
    Multiprocess(config, sockets=[listeners.WorkerSocket(host, port, config.backlog)]).run()  # type: ignore[list-item]


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="the token's subject: a person id for documents:read")],
    scope: Annotated[list[str], typer.Option(help="a scope to grant; repeat for several")],
    hours: Annotated[float, typer.Option(help="lifetime in hours")] = 12.0,
) -> None:
    """Mint a token with the development key (only when GATEWAY_JWKS_FILE is unset)."""
    from gateway.auth import DevelopmentIssuer
    from gateway.keys import dev_issuer_path

    settings = Settings()
    if settings.jwks_file is not None:
        err.print("[red]GATEWAY_JWKS_FILE is set: tokens come from your identity provider, not from this command.[/]")
        raise typer.Exit(2)
    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        err.print(f"[red]Unknown scope {', '.join(unknown)}.[/] Known: {', '.join(SCOPES)}")
        raise typer.Exit(2)
    issuer = DevelopmentIssuer(dev_issuer_path(settings), settings.jwt_issuer, settings.jwt_audience)
    print(issuer.mint(sub, scope, int(hours * 3600)))


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--out", help="write it here (docs/openapi.json) instead of stdout")
    ] = None,
) -> None:
    """Print the API's OpenAPI document, as /openapi.json serves it (docs/api.md)."""
    from gateway.app import api_description

    text = json.dumps(api_description(), indent=1, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


db_app = typer.Typer(
    help="The database schema, migrated by the Alembic revisions shipped with the gateway: tables, indexes, "
    "append-only triggers, chain heads.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command(
    "upgrade",
    help="Migrate the configured database to the newest schema this gateway knows, in one transaction.\n\n"
    "An empty database gets the whole schema, an older one the revisions it lacks, one at the newest is left "
    "alone: safe to run again. Replicas starting at once on PostgreSQL take turns. A schema this gateway does not "
    "know (a newer gateway's, or tables made without migrations) is refused and left untouched. Back up a database "
    "that holds data first: revisions are not undone.",
)
def db_upgrade() -> None:
    from gateway.db import SchemaRefused, make_engine, upgrade

    settings = Settings()
    engine = make_engine(settings)
    try:
        done = upgrade(engine)
    except SchemaRefused as exc:
        raise _refusal(exc) from exc
    finally:
        engine.dispose()
    if done.ran:
        out.print(f"Migrated {_where(settings)} from {done.before or '(empty)'} to {done.after}:", markup=False)
        for revision, what in done.ran:
            out.print(f"  {revision}  {what}", markup=False, highlight=False)
    else:
        out.print(f"{_where(settings)} is at revision {done.after}: nothing to run.", markup=False)
    out.print(f"[green]Schema ready[/]: revision {done.after} (head).")


@db_app.command("init", help="The same as `db upgrade` (its name before migrations, kept for scripts).")
def db_init() -> None:
    db_upgrade()


@db_app.command(
    "current",
    help="Say where the configured database's schema stands; exit status 0 at head, 1 otherwise.\n\n"
    "head: at the newest revision this gateway knows. behind: at an older one (run `db upgrade`). empty: no "
    "schema yet (run `db upgrade`). unknown: a revision this gateway does not know (a newer gateway's), or "
    "tables made without migrations; the gateway refuses to start on it.",
)
def db_current() -> None:
    from gateway.db import SchemaState, make_engine, schema_state

    settings = Settings()
    engine = make_engine(settings)
    try:
        status = schema_state(engine)
    finally:
        engine.dispose()
    detail = {
        SchemaState.HEAD: f"revision {status.revision}, the newest this gateway knows.",
        SchemaState.BEHIND: f"revision {status.revision}; this gateway's newest is {status.head}. "
        "Run `clearance-gateway db upgrade` (back the database up first).",
        SchemaState.EMPTY: f"no clearance-gateway schema yet. Run `clearance-gateway db upgrade` to create it "
        f"(revision {status.head}).",
        SchemaState.UNKNOWN: status.refusal(),
    }[status.state]
    out.print(_where(settings), markup=False)
    out.print(f"{status.state}: {detail}", markup=False, highlight=False)
    if status.state is not SchemaState.HEAD:
        raise typer.Exit(1)


def _engine_at_head(settings: Settings):
    """The configured database, migrated as the service would at start-up (GATEWAY_AUTO_MIGRATE), or exit 1."""
    from gateway.db import SchemaRefused, ensure_schema, make_engine

    engine = make_engine(settings)
    try:
        ensure_schema(engine, settings.auto_migrate)
    except SchemaRefused as exc:
        engine.dispose()
        raise _refusal(exc) from exc
    return engine


def _refusal(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[red]Refused:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


def _where(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _register_subcommands() -> None:
    """Command groups that live in their own modules."""
    from gateway import cli_admin, cli_bundle, cli_documents, cli_policy, cli_provisions

    cli_bundle.register(registry_app)
    cli_admin.register(registry_app)
    cli_provisions.register(registry_app)
    cli_documents.register(registry_app)
    app.add_typer(cli_policy.app, name="policy")
    from gateway import cli_access, cli_audit

    app.add_typer(cli_audit.app, name="audit")
    app.add_typer(cli_access.app, name="access")


_register_subcommands()


def main() -> None:
    app(prog_name="clearance-gateway")


if __name__ == "__main__":
    main()
