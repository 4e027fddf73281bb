"""`python -m bench`: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from bench.config import RESULTS, RunConfig
from bench.report import print_report, write_json

DESCRIPTION = """\
Benchmark clearance-gateway on a generated registry (persons, designations, documents, assessments,
rosters, contractors with certifications and contracts; a mix of allows and every kind of deny).

Measurements 1 to 4, each over the same prepared (person, document) cases:
  1 decision core     decide(snapshot.facts(p, d), "read", today, policy) in this process, warm caches
  2 naive enforce     a plain casbin.Enforcer with eval() rules over attribute objects built per
                      request (bench/naive/); its allow/deny must agree with 1 on every call
  3 HTTP evaluation   the real gateway (uvicorn bench.gateway_asgi:app: the production app as
                      `clearance-gateway serve` runs it, plus a bench-only static directory; SQLite
                      decision log in a temporary directory) driven by N keep-alive connections;
                      afterwards the `authzen` rows in the decisions table must equal the 200 answers
  4 FastAPI floor     a bare FastAPI app (bench/floor_app.py) parsing the same body, same client
On the gateway of 3, before it stops:
  5 document release  GET /v1/documents/{id}/content of a 100 KiB document of random bytes, uploaded
                      through POST /v1/admin/documents, by a person the registry allows to read it
                      (a documents:read token); requests/s, MB/s, p50, p99, every body's length checked
  6 static file       the same 100 KiB as a plain unauthenticated static file of the same app
  7 large release     a --big-mb document uploaded (multipart streamed from a file) and released once
                      while the gateway's VmRSS is sampled every 50 ms: baseline, peak, MB/s, sha256
In this process, on fresh databases with the gateway's schema:
  8 log writes        realistic decision rows committed 1 and 100 per transaction, through
                      gateway.audit.chain.append (chain on) and a plain INSERT (chain off): rows/s;
                      on SQLite and, if reachable, on PostgreSQL (a database created and dropped)
  9 audit queries     --audit-rows decisions generated in SQL in PostgreSQL, then the audit list's
                      first and third page (through the cursor) for each filter, with the API's own
                      code: p50/p99; and the EXPLAIN of the person-filtered page

Then the ratios the project aims at: 1 over 2 (at least 10x) and 3 over 4 (at least 0.5); and, for
information, 5 over 6 and chain on over chain off. MB means 10^6 bytes.
Servers listen on 127.0.0.1 only and are stopped at the end, also on Ctrl-C or error; the databases
made in PostgreSQL are dropped."""


def parse_args(argv: list[str] | None = None) -> RunConfig:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run (under 40 s): 200 persons, 600 cases, 3 s for each of 1 to 4, 1.5 s for "
                        "5 and 6, 0.4 s for each configuration of 8, no 9")
    option = parser.add_argument
    option("--persons", type=int, metavar="N",
           help="persons in the registry (default 1000); designations, operators and documents scale")
    option("--cases", type=int, metavar="N", help="distinct (person, document) cases (default 3000)")
    option("--duration", type=float, metavar="SECONDS",
           help="length of each of measurements 1 to 4 (default 15)")
    option("--warmup", type=float, metavar="SECONDS",
           help="untimed HTTP traffic before each HTTP measurement (default 1)")
    option("--concurrency", type=int, metavar="N", help="HTTP connections (default 16)")
    option("--release-duration", type=float, metavar="SECONDS",
           help="length of each of measurements 5 and 6 (default 10)")
    option("--big-mb", type=int, metavar="N",
           help="size of the large release of measurement 7 in MB (default 200; 0 leaves it out)")
    option("--log-seconds", type=float, metavar="SECONDS",
           help="length of each of the (up to 8) decision-log write configurations of measurement 8 (default 3)")
    option("--audit-rows", type=int, metavar="N",
           help="decisions in the audit query log of measurement 9 (default 1000000, about 60 s in all; "
           "0 leaves it out, as --quick does)")
    option("--postgres", metavar="URL",
           help="PostgreSQL server for 8 and 9, a database it may CREATE DATABASE in (default "
           "$GATEWAY_TEST_POSTGRES_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    option("--no-postgres", action="store_true", help="SQLite only: no PostgreSQL in 8, no 9")
    option("--seed", type=int, help="seed of the generated registry and cases (default 7)")
    option("--json", type=Path, metavar="PATH", dest="json_path",
           help=f"where to write the results as JSON (default {RESULTS / 'latest.json'})")
    option("--keep", action="store_true", help="keep the temporary work directory (database, server logs)")
    args = parser.parse_args(argv)
    values = RunConfig.quick_defaults() if args.quick else {}
    skip = ("quick", "keep", "no_postgres")
    values |= {k: v for k, v in vars(args).items() if v is not None and k not in skip}
    if args.no_postgres:
        values["postgres"] = None
    for name in ("persons", "cases", "concurrency"):
        if values.get(name, 1) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("big_mb", "audit_rows"):
        if values.get(name, 0) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    for name in ("duration", "release_duration", "log_seconds"):
        if not 0 < values.get(name, 1) <= 600:
            parser.error(f"--{name.replace('_', '-')} must be more than 0 and at most 600 seconds")
    if not 0 <= values.get("warmup", 0) <= 60:
        parser.error("--warmup must be between 0 and 60 seconds")
    return RunConfig(quick=args.quick, keep=args.keep, **values)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    # To a file or a pipe: wide enough that every table row keeps to one line.
    console, progress = Console(), Console(stderr=True)
    console = console if console.is_terminal else Console(width=120)
    progress = progress if progress.is_terminal else Console(stderr=True, width=120)
    # Imported late, so that --help stays fast.
    from bench.release import ReleaseFailed
    from bench.runner import run
    from bench.servers import ServerFailed
    from bench.workspace import ImportFailed

    try:
        results = run(config, lambda message: progress.print(f"[dim]bench:[/] {message}"))
    except KeyboardInterrupt:
        progress.print("[yellow]interrupted; servers stopped, nothing written[/]")
        return 130
    except (ServerFailed, ImportFailed, ReleaseFailed) as exc:
        progress.print(f"benchmark failed: {exc}", style="bold red", markup=False)
        return 1
    write_json(results, config.json_path)  # first: a closed pipe on the table must not lose the results
    print_report(results, console)
    console.print(f"results written to {config.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
