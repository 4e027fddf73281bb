"""What `serve` says before it starts: the port, the demo registry, and development tokens ready to paste."""

from __future__ import annotations

import errno
import json
import os
import shlex
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from gateway.container import Container
from gateway.decision.calendar import local_day
from gateway.keys import dev_issuer_path

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True)

# The shell variable each printed token goes into, and the scopes it carries. A simulation needs
# authz:evaluate as well as authz:simulate, so T_SIM carries both.
TOKEN_VARIABLES: dict[str, tuple[str, ...]] = {
    "T_EVAL": ("authz:evaluate",),
    "T_SIM": ("authz:evaluate", "authz:simulate"),
    "T_SEARCH": ("authz:search",),
    "T_ADMIN": ("registry:admin",),
    "T_POLICY": ("policy:admin",),
    "T_AUDIT": ("audit:read",),
}
# Environment that decides which development key `token` uses: printed with its command line.
KEY_SETTINGS = ("GATEWAY_DOCUMENT_DIR", "GATEWAY_JWT_ISSUER", "GATEWAY_JWT_AUDIENCE")


def ensure_port_free(host: str, port: int) -> None:
    """Refuse early, before any database work, when something already listens on the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            err.print(
                f"[red]Port {port} on {host} is already in use[/] (is the gateway already running?). "
                f"Stop that process, or choose another port: --port {port + 1}."
            )
            raise typer.Exit(1) from exc


def import_demo(container: Container, where: str) -> None:
    """Load the demo registry into an empty database; never over an administrator's changes."""
    from gateway.demo import demo_bundle
    from gateway.registry.bundle_checks import parse_bundle
    from gateway.registry.changes import Actor
    from gateway.registry.importer import import_bundle
    from gateway.registry.tables import ORDER, T

    with container.engine.connect() as conn:
        held = any(conn.execute(select(T[name]).limit(1)).first() is not None for name in ORDER)
    out.print(f"Database: {where}")
    if held:
        out.print(
            "[yellow]The database already holds a registry: the demo registry was not imported again.[/] "
            "Delete the database file to start the demo afresh."
        )
        return
    today = local_day(datetime.now(UTC), container.settings.zone)
    bundle = parse_bundle(json.dumps(demo_bundle(today)))
    actor = Actor.now("cli:demo", container.settings.zone)
    rules = container.policies.current.registry
    result = import_bundle(container.engine, bundle, actor, container.store, rules=rules)
    out.print(
        f"[green]Demo registry loaded[/] ({sum(result.created.values())} entries created, dated relative to {today})."
    )


def token_command(sub: str, scope: str) -> str:
    """The `token` command line that mints with the same development key as this process."""
    program = Path(sys.argv[0])
    command = str(program.resolve()) if program.is_file() else "clearance-gateway"
    env = []
    for name in KEY_SETTINGS:
        if name in os.environ:
            value = os.environ[name]
            if name == "GATEWAY_DOCUMENT_DIR":
                value = str(Path(value).resolve())
            env.append(f"{name}={shlex.quote(value)}")
    return " ".join([*env, shlex.quote(command), "token", "--sub", sub, "--scope", scope])


def print_dev_tokens(container: Container, host: str, port: int, demo: bool) -> None:
    issuer = container.dev_issuer
    assert issuer is not None
    out.print(
        f"\n[bold]Development tokens[/] (valid 12 hours; signed by the development key "
        f"{dev_issuer_path(container.settings)}). Paste these lines into your shell:\n"
    )
    variables = dict(TOKEN_VARIABLES)
    if demo:
        variables = {
            "T_EVAL": variables.pop("T_EVAL"),
            "T_SIM": variables.pop("T_SIM"),
            "T_SEARCH": variables.pop("T_SEARCH"),
            "T_READ": ("documents:read",),
            **variables,
        }
    for name, scopes in variables.items():
        sub = "P-0001" if scopes == ("documents:read",) else f"dev-{scopes[-1].split(':')[0]}"
        token = issuer.mint(sub, list(scopes), client="dev-cli")
        what = " + ".join(scopes) + (f" (sub {sub})" if sub.startswith("P-") else "")
        out.print(f"export {name}={token}  # {what}", markup=False)
    base = f"http://{host}:{port}"
    body = json.dumps(
        {
            "subject": {"type": "person", "id": "P-0001"},
            "resource": {"type": "document", "id": "DOC-0001"},
            "action": {"name": "read"},
        }
    )
    out.print("\n[bold]Try a decision:[/]\n")
    out.print(
        f'curl -s {base}/access/v1/evaluation -H "Authorization: Bearer $T_EVAL" '
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
        markup=False,
    )
    if demo:
        out.print("\n[bold]Release a document to its reader[/] (the token's sub is person P-0001):\n")
        out.print(f'curl -si {base}/v1/documents/DOC-0001/content -H "Authorization: Bearer $T_READ"', markup=False)
        _print_cases()
    out.print("\nA token for another person or scope, from the same development key:\n")
    out.print(token_command("P-0002", "documents:read"), markup=False)
    out.print(f"\nAPI reference: {base}/docs\n", markup=False)


def _print_cases() -> None:
    from gateway.demo import DEMO_CASES

    cases = Table(title="Demo cases: change the subject and resource ids in the curl line above")
    cases.add_column("person", no_wrap=True)
    cases.add_column("document", no_wrap=True)
    cases.add_column("shows")
    for person, document, shows in DEMO_CASES:
        cases.add_row(person, document, shows)
    out.print(cases)
