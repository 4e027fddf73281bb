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
rosters, contractors with certifications and contracts; a mix of allows and every kind of deny), beside
its peers on the same decisions, in one run. Every measurement gives a count, a throughput, p50, p99
and the peak RSS (VmHWM) of the process doing the work.

In this process, over the same prepared (person, document) cases, in the same order:
  1 decision core     memo.decide(snapshot, p, d, "read", today, policy) as the gateway serves it (memoized),
                      warm caches; then 1b: decide(snapshot.facts(p, d), "read", today, policy) each call
  2 naive enforce     a plain casbin.Enforcer with eval() rules over attribute objects built per
                      request (bench/naive/)
  3 cedarpy           cedarpy.is_authorized with an equivalent Cedar policy (bench/cedar/policy.cedar),
                      entities and context built per request from the naive peer's attributes
  4 cedarpy batch     cedarpy.is_authorized_batch, --batch-size decisions a call
  The answers of 2, 3 and 4 must agree with 1's on every call (also tests/unit/test_bench_peers.py).
On the real gateway (python -m bench.workers_server: the production app served as `clearance-gateway
serve` serves it, one worker, with the decision-log writer process serve starts beside it, plus a
bench-only static directory; SQLite decision log in a temporary directory):
  5 HTTP evaluation   POST /access/v1/evaluation, N keep-alive connections, closed loop
  6 open loop         the same at --paced-fraction of 5's rate, latency from each request's due time
  7 HTTP batch        POST /access/v1/evaluations with --batch-size evaluations a request
  afterwards the `authzen` rows in the decisions table must equal the decisions answered 200
  9 document release  GET /v1/documents/{id}/content of a 100 KiB document of random bytes, uploaded
                      through POST /v1/admin/documents, by a person the registry allows to read it
  10 static file      the same 100 KiB as a plain unauthenticated static file of the same app
  11 large release    a --big-mb document uploaded (multipart streamed from a file) and released once
                      while the gateway's VmRSS is sampled every 50 ms: baseline, peak, MB/s, sha256
And:
  8 FastAPI floor     a bare FastAPI app (bench/floor_app.py) parsing the same body, same client
  12 registry sizes   the decision core, as in 1b, on registries of --sizes persons with
                      --size-designations designations each, written straight into a gateway database
                      and read back with the gateway's own snapshot loader; the p50's growth
  13 log writes       realistic decision records committed 1 and 100 per transaction, every one
                      chained, through the gateway's write path (DecisionSink: raw executemany) and
                      through the SQLAlchemy Core path before it: rows/s and the writing thread's CPU
                      a row; on SQLite and, if reachable, PostgreSQL (a database created and dropped)
  14 audit queries    --audit-rows decisions generated in SQL in PostgreSQL, then the audit list's
                      first and third page (through the cursor) for each filter, with the API's own
                      code: p50/p99; and the EXPLAIN of the person-filtered page
  15 workers         5 again on --workers N worker processes (`serve --workers N`: a listening socket
                      a worker), same database and load; its `authzen` rows must grow by its 200
                      answers; the throughput over 5's
For 5 to 8 and 15 a table shows where the CPU went: the gateway (with its workers), the writer
process and the load generator, in cores and in µs a decision, and the rate the machine's cores would
allow at that cost.

Then the aims of issue #7: decision core p50 <= 20 us and >= 20x the decisions/s of 2 and of 3; 5 at
least 0.7 of 8's 200 answers/s; 6's p99 under 20 ms; 7 at least 20,000 decisions/s, all logged;
12's p50 growth at most 1.5x; (issue #13) 15 at least 1.7x 5; 13's CPU a row on SQLite, 100 a
commit, at most 25 us. MB means 10^6 bytes. Results go to bench/results/<start time>.json (and
latest.json); `--compare OLD.json NEW.json` sets two runs side by side. Servers listen on 127.0.0.1
only and are stopped at the end, also on Ctrl-C or error; the databases made in PostgreSQL are
dropped.

`python -m bench --search` measures #18 apart (search, access reviews, past instants on 100,000
persons and 10,000 designations, in this process): `python -m bench --search --help`."""


def parse_args(argv: list[str] | None = None) -> RunConfig:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run (about 75 s): 200 persons, 600 cases, 2 s for each of 1 to 8 and 15, "
                        "1.5 s for 9 and 10, a 100 MB release, sizes 1,000 and 10,000 persons with 1,000 designations, "
                        "0.4 s for each configuration of 13, no 14")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
                        help="compare two result files (no measurement is run)")
    option = parser.add_argument
    option("--persons", type=int, metavar="N",
           help="persons in the registry (default 1000); designations, operators and documents scale")
    option("--cases", type=int, metavar="N", help="distinct (person, document) cases (default 3000)")
    option("--duration", type=float, metavar="SECONDS",
           help="length of each of measurements 1 to 8 and 15 and of each size of 12 (default 15)")
    option("--warmup", type=float, metavar="SECONDS",
           help="untimed HTTP traffic before each closed-loop HTTP measurement (default 1)")
    option("--concurrency", type=int, metavar="N", help="HTTP connections of 5, 6, 8, 9, 10 (default 16)")
    option("--paced-fraction", type=float, metavar="F",
           help="measurement 6 sends at this fraction of 5's rate (default 0.8; 0 leaves it out)")
    option("--batch-size", type=int, metavar="N",
           help="evaluations in a batch of 4 and 7 (default 100; 0 leaves both out)")
    option("--batch-concurrency", type=int, metavar="N", help="HTTP connections of 7 (default 4)")
    option("--release-duration", type=float, metavar="SECONDS",
           help="length of each of measurements 9 and 10 (default 10)")
    option("--big-mb", type=int, metavar="N",
           help="size of the large release of measurement 11 in MB (default 200; 0 leaves it out)")
    option("--sizes", type=_sizes, metavar="N,N,...",
           help="persons in the registries of measurement 12 (default 1000,100000; 0 leaves it out)")
    option("--size-designations", type=int, metavar="N",
           help="designations in each registry of measurement 12 (default 10000)")
    option("--workers", type=int, metavar="N",
           help="measurement 15: 5 again on N uvicorn worker processes, as `serve --workers N` (default 2; 0 "
           "leaves it out)")
    option("--log-seconds", type=float, metavar="SECONDS",
           help="length of each of the (up to 8) decision-log write configurations of measurement 13 (default 3)")
    option("--audit-rows", type=int, metavar="N",
           help="decisions in the audit query log of measurement 14 (default 1000000, about 60 s in all; "
           "0 leaves it out, as --quick does)")
    option("--postgres", metavar="URL",
           help="PostgreSQL server for 13 and 14, a database it may CREATE DATABASE in (default "
           "$GATEWAY_TEST_POSTGRES_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    option("--no-postgres", action="store_true", help="SQLite only: no PostgreSQL in 13, no 14")
    option("--seed", type=int, help="seed of the generated registry and cases (default 7)")
    option("--json", type=Path, metavar="PATH", dest="json_path",
           help=f"where to write the results as JSON (default {RESULTS}/<start time>.json, copied to latest.json)")
    option("--keep", action="store_true", help="keep the temporary work directory (database, server logs)")
    args = parser.parse_args(argv)
    values = RunConfig.quick_defaults() if args.quick else {}
    skip = ("quick", "keep", "no_postgres", "compare")
    values |= {k: v for k, v in vars(args).items() if v is not None and k not in skip}
    if args.no_postgres:
        values["postgres"] = None
    for name in ("persons", "cases", "concurrency", "batch_concurrency", "size_designations"):
        if values.get(name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= values.get("paced_fraction", 0) <= 1:
        parser.error("--paced-fraction must be between 0 and 1")
    for name in ("big_mb", "audit_rows", "batch_size", "workers"):
        if values.get(name, 0) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    for name in ("duration", "release_duration", "log_seconds"):
        if not 0 < values.get(name, 1) <= 600:
            parser.error(f"--{name.replace('_', '-')} must be more than 0 and at most 600 seconds")
    if not 0 <= values.get("warmup", 0) <= 60:
        parser.error("--warmup must be between 0 and 60 seconds")
    return RunConfig(quick=args.quick, keep=args.keep, **values)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("give whole numbers separated by commas, e.g. 1000,100000") from None
    if sizes == (0,):
        return ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("each size must be at least 1 person")
    return sizes


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    # To a file or a pipe: wide enough that every table row keeps to one line.
    console, progress = Console(), Console(stderr=True)
    console = console if console.is_terminal else Console(width=140)
    progress = progress if progress.is_terminal else Console(stderr=True, width=140)
    if "--compare" in args:
        from bench.compare import compare

        parser = argparse.ArgumentParser(prog="python -m bench --compare")
        parser.add_argument("--compare", nargs=2, type=Path, required=True, metavar=("OLD", "NEW"))
        old, new = parser.parse_args(args).compare
        return compare(old, new, console)
    if "--search" in args:
        from bench.search import main as search_main

        return search_main(args, console, progress)
    config = parse_args(args)
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
    # First: a closed pipe on the table must not lose the results.
    path = config.json_path or RESULTS / f"{results['started_at'][:19].replace(':', '')}Z.json"
    write_json(results, path)
    if config.json_path is None:
        write_json(results, RESULTS / "latest.json")
    print_report(results, console)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
