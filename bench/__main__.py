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

Four measurements, each over the same prepared (person, document) cases:
  1 decision core     decide(snapshot.facts(p, d), "read", today, policy) in this process, warm caches
  2 naive enforce     a plain casbin.Enforcer with eval() rules over attribute objects built per
                      request (bench/naive/); its allow/deny must agree with 1 on every call
  3 HTTP evaluation   the real gateway (`clearance-gateway serve`, uvicorn, SQLite decision log in a
                      temporary directory) driven by N keep-alive connections; afterwards the rows in
                      the decisions table must equal the 200 answers
  4 FastAPI floor     a bare FastAPI app (bench/floor_app.py) parsing the same body, same client

Then the ratios the project aims at: 1 over 2 (at least 10x) and 3 over 4 (at least 0.5).
Servers listen on 127.0.0.1 only and are stopped at the end, also on Ctrl-C or error."""


def parse_args(argv: list[str] | None = None) -> RunConfig:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run (under 30 s): 200 persons, 600 cases, 3 s per measurement")
    option = parser.add_argument
    option("--persons", type=int, metavar="N",
           help="persons in the registry (default 1000); designations, operators and documents scale")
    option("--cases", type=int, metavar="N", help="distinct (person, document) cases (default 3000)")
    option("--duration", type=float, metavar="SECONDS",
           help="length of each of the four measurements (default 15)")
    option("--warmup", type=float, metavar="SECONDS",
           help="untimed HTTP traffic before each HTTP measurement (default 1)")
    option("--concurrency", type=int, metavar="N", help="HTTP connections (default 16)")
    option("--seed", type=int, help="seed of the generated registry and cases (default 7)")
    option("--json", type=Path, metavar="PATH", dest="json_path",
           help=f"where to write the results as JSON (default {RESULTS / 'latest.json'})")
    option("--keep", action="store_true", help="keep the temporary work directory (database, server logs)")
    args = parser.parse_args(argv)
    values = RunConfig.quick_defaults() if args.quick else {}
    values |= {k: v for k, v in vars(args).items() if v is not None and k not in ("quick", "keep")}
    for name in ("persons", "cases", "concurrency"):
        if values.get(name, 1) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 0 < values.get("duration", 1) <= 600:
        parser.error("--duration must be more than 0 and at most 600 seconds")
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
    from bench.runner import run
    from bench.servers import ServerFailed
    from bench.workspace import ImportFailed

    try:
        results = run(config, lambda message: progress.print(f"[dim]bench:[/] {message}"))
    except KeyboardInterrupt:
        progress.print("[yellow]interrupted; servers stopped, nothing written[/]")
        return 130
    except (ServerFailed, ImportFailed) as exc:
        progress.print(f"benchmark failed: {exc}", style="bold red", markup=False)
        return 1
    write_json(results, config.json_path)  # first: a closed pipe on the table must not lose the results
    print_report(results, console)
    console.print(f"results written to {config.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
