"""`python -m tests.conformance --base-url URL --token TOKEN [--allow PERSON DOCUMENT]`: run the AuthZEN
conformance checks against a live gateway and print a table; exit 1 when any check fails."""

from __future__ import annotations

import argparse
import sys

import httpx
from rich.console import Console
from rich.table import Table

from tests.conformance.checks import Target, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Check a live gateway against the AuthZEN 1.0 statements it implements.",
    )
    parser.add_argument("--base-url", required=True, help="the PDP's URL, as published (https://...)")
    parser.add_argument("--token", required=True, help="a bearer token with the scope authz:evaluate")
    parser.add_argument("--search-token", help="a bearer token with authz:search (without it, search is skipped)")
    parser.add_argument("--allow", nargs=2, metavar=("PERSON", "DOCUMENT"), help="a pair the deployment allows")
    parser.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate (testing only)")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.base_url, verify=not args.insecure, timeout=15) as client:
        allow = tuple(args.allow) if args.allow else None
        results = run(Target(client, args.token, args.base_url, allow, search_token=args.search_token))
    table = Table(title=f"AuthZEN 1.0 conformance of {args.base_url}")
    for column in ("section", "statement", "result"):
        table.add_column(column, overflow="fold")
    colours = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
    for section, statement, result, why in results:
        table.add_row(section, statement + (f"\n{why}" if why else ""), f"[{colours[result]}]{result}[/]")
    console = Console()
    console.print(table)
    failed = sum(1 for r in results if r[2] == "FAIL")
    console.print(f"{len(results) - failed} of {len(results)} checks passed or skipped; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
