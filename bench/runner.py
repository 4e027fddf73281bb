"""One benchmark run: generate and import a registry, then the measurements, in order: 1 to 4 in this
process, 5 to 7 with 9 to 11 on the same gateway process, 8, 12 (registries of other sizes), then 13
and 14 (PostgreSQL where reachable)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.aims import aims
from bench.audit_queries import bench_audit_queries
from bench.cases import prepare_cases
from bench.config import RunConfig
from bench.generator import Shape, generate_bundle
from bench.http_phase import Extra, GatewayRun, HttpOutcome, Load, bench_floor, bench_gateway, bench_workers
from bench.inprocess import Agreement, Prepared, bench_cedar, bench_cedar_batch, bench_core, bench_naive, prepare
from bench.log_writes import (
    WriteResult,
    bench_log_writes,
    entry_templates,
    handover_us_per_row,
    postgres_database,
    postgres_problem,
    serialize_us_per_row,
    sqlite_database,
)
from bench.memory import peak_rss
from bench.release import (
    RELEASE_BYTES,
    STATIC_NAME,
    ReleaseOutcome,
    bench_big_release,
    bench_release,
    pick_reader,
    write_random,
)
from bench.scaling import SizePlan, bench_sizes
from bench.servers import Server
from bench.workspace import POLICY_DIR, REPO, Workspace
from gateway.decision.calendar import local_day
from gateway.decision.policy import Policy
from gateway.policy.files import load_policy
from gateway.registry.snapshot import RegistrySnapshot
from gateway.settings import Settings

LOG_ROWS = 1_000_000  # bound on the rows of one decision-log write configuration
Say = Callable[[str], None]


@contextmanager
def _work_directory(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    try:
        yield root
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _today() -> date:
    """The calendar day the gateway decides for: its default zone, as the servers run without GATEWAY_*."""
    return local_day(datetime.now(UTC), ZoneInfo(Settings.model_fields["timezone"].default))


def run(config: RunConfig, say: Say) -> dict[str, Any]:
    started = datetime.now(UTC)
    load_average = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    if load_average and load_average[0] > 0.5:
        say(f"[yellow]the machine is busy (load average {load_average[0]:.2f}): expect noisy figures[/]")
    today = _today()
    postgres_skipped = postgres_problem(config.postgres) if config.postgres else "not asked for (--no-postgres)"
    if postgres_skipped and config.postgres:
        say(f"[yellow]PostgreSQL not reachable ({postgres_skipped}): measurement 13 on SQLite only, no 14[/]")
    with _work_directory(config.keep) as root:
        if config.keep:
            say(f"work directory (kept): {root}")
        workspace = Workspace.create(root)
        bundle = generate_bundle(Shape.for_persons(config.persons), today, config.seed)
        say(f"registry: {', '.join(f'{len(v)} {k}' for k, v in bundle.items())}")
        import_seconds = workspace.import_bundle(bundle)
        say(f"imported with `clearance-gateway registry import` in {import_seconds:.1f} s")
        snapshot = workspace.snapshot()
        policy = load_policy(POLICY_DIR)
        prepared = prepare(prepare_cases(bundle, config.cases, config.seed), snapshot, policy, today)
        if not prepared.cases:
            raise RuntimeError("the decision core could decide none of the prepared cases")
        if prepared.failures:
            say(f"[red]the decision core raised on {len(prepared.failures)} of {config.cases} cases[/]: "
                f"{prepared.failures[0].error}")
        inproc = _in_process(config, prepared, snapshot, policy, today, say)
        load = Load(config.concurrency, config.duration, config.warmup, config.max_calls)
        extra = Extra(config.paced_fraction, config.batch_size, config.batch_concurrency)
        reader = pick_reader(prepared, bundle)
        write_random(workspace.static_dir / STATIC_NAME, RELEASE_BYTES)

        def on_the_same_gateway(server: Server) -> tuple[ReleaseOutcome, dict[str, Any] | None]:
            say(f"9/15 and 10/15 document release of 100 KiB to {reader.person}, then the same bytes as a "
                f"static file: {config.concurrency} connections, {config.release_duration:g} s each")
            release_load = Load(config.concurrency, config.release_duration, config.warmup, config.max_calls)
            release = bench_release(server, workspace, reader, release_load)
            if not config.big_mb:
                return release, None
            say(f"11/15 large release: {config.big_mb} MB uploaded (streamed), then released once, VmRSS sampled")
            return release, bench_big_release(server, workspace, reader, config.big_mb)

        say(f"5/15 HTTP evaluation on the real gateway: {config.concurrency} connections, {config.duration:g} s; "
            f"then 6/15 open loop at {config.paced_fraction:.0%} of that rate; then 7/15 batches of "
            f"{config.batch_size} on {config.batch_concurrency} connections")
        gateway, (release, big) = bench_gateway(workspace, prepared, load, extra, on_the_same_gateway)
        release_rows = workspace.decision_rows("release")
        say(f"8/15 bare FastAPI floor: {config.concurrency} connections, {config.duration:g} s")
        floor = bench_floor(workspace, prepared, load)
        workers = None
        if config.workers > 1:
            say(f"15/15 HTTP evaluation as 5, on {config.workers} worker processes (serve --workers "
                f"{config.workers}): {config.concurrency} connections, {config.duration:g} s")
            workers = bench_workers(workspace, prepared, load, config.workers)
        sizes = None
        if config.sizes:
            say(f"12/15 registry sizes: the decision core on {' and '.join(f'{n:,}' for n in config.sizes)} persons "
                f"with {config.size_designations:,} designations, {config.duration:g} s each")
            plan = SizePlan(config.sizes, config.size_designations, config.cases, config.seed, config.duration,
                            config.max_calls)
            sizes = bench_sizes(root, plan, today, say)
        templates = entry_templates(prepared, snapshot, policy, today)
        backends = "SQLite" + ("" if postgres_skipped else " and PostgreSQL")
        say(f"13/15 decision-log writes on {backends}: the gateway's path and the SQLAlchemy Core one x 1/100 rows "
            f"per transaction, {config.log_seconds:g} s each")
        writes: list[WriteResult] = []
        serialize = serialize_us_per_row(templates)
        handover = handover_us_per_row(templates)
        with sqlite_database(root) as url:
            writes += bench_log_writes(url, "sqlite", templates, seconds=config.log_seconds, max_rows=LOG_ROWS)
        if not postgres_skipped:
            assert config.postgres is not None
            with postgres_database(config.postgres, "writes") as url:
                writes += bench_log_writes(url, "postgresql", templates, seconds=config.log_seconds,
                                           max_rows=LOG_ROWS)
    audit = None
    if config.audit_rows and not postgres_skipped:
        assert config.postgres is not None
        say(f"14/15 audit queries on {config.audit_rows:,} decisions in PostgreSQL (generated in SQL)")
        audit = bench_audit_queries(config.postgres, config.audit_rows, say).as_dict()
    results = _results(config, started, today, bundle, import_seconds, prepared, inproc, gateway, floor)
    results["machine"]["load_average_at_start"] = load_average
    results["postgres_skipped"] = postgres_skipped
    _add(results, config, release, release_rows, big, writes, audit)
    if writes:
        results["measurements"]["log_writes"]["serialize_us_per_row"] = serialize
        results["measurements"]["log_writes"]["handover_us_per_row"] = handover
    if workers is not None:
        results["measurements"]["http_evaluation_workers"] = {**(_http(workers[0]) or {}), "workers": config.workers}
        results["checks"]["gateway_workers"] = workers[1]
    results["measurements"]["registry_sizes"] = sizes
    results["aims"] = aims(results)
    results["finished_at"] = datetime.now(UTC).isoformat()
    return results


@dataclass
class InProcess:
    """Measurements 1 to 4, each with the peak RSS of this process while it ran."""

    core: dict[str, Any]
    naive: dict[str, Any]
    cedar: dict[str, Any]
    cedar_batch: dict[str, Any] | None
    agreements: dict[str, Agreement]


def _in_process(config: RunConfig, prepared: Prepared, snapshot: RegistrySnapshot, policy: Policy, today: date,
                say: Say) -> InProcess:
    seconds, bound, pid = config.duration, config.max_calls, os.getpid()
    say(f"1/15 decision core: {len(prepared.cases)} cases, {seconds:g} s, memoized as served, then unmemoized")
    with peak_rss(pid) as peak:
        core = bench_core(prepared, snapshot, policy, today, seconds=seconds, max_calls=bound, memoized=True)
    core_row = {**core.summary.as_dict(), **peak.as_dict()}
    with peak_rss(pid) as peak:
        unmemoized = bench_core(prepared, snapshot, policy, today, seconds=seconds, max_calls=bound)
    core_row["unmemoized"] = {**unmemoized.summary.as_dict(), **peak.as_dict()}
    say("2/15 PyCasbin naive enforce: every case at least once, then to the time limit")
    with peak_rss(pid) as peak:
        naive, naive_agreement = bench_naive(prepared, snapshot, today, seconds=seconds, max_calls=bound)
    naive_row = {**naive.summary.as_dict(), **peak.as_dict()}
    say("3/15 cedarpy is_authorized: every case at least once, then to the time limit")
    with peak_rss(pid) as peak:
        cedar, cedar_agreement = bench_cedar(prepared, snapshot, today, seconds=seconds, max_calls=bound)
    cedar_row = {**cedar.summary.as_dict(), **peak.as_dict()}
    agreements = {"pycasbin_naive": naive_agreement, "cedar": cedar_agreement}
    batch_row = None
    if config.batch_size:
        say(f"4/15 cedarpy is_authorized_batch, {config.batch_size} decisions a call")
        with peak_rss(pid) as peak:
            batch, agreements["cedar_batch"] = bench_cedar_batch(prepared, snapshot, today, size=config.batch_size,
                                                                 seconds=seconds, max_calls=bound)
        summary = batch.summary
        batch_row = {**summary.as_dict(), **peak.as_dict(), "batch_size": config.batch_size,
                     "decisions": len(batch.answers),
                     "decisions_per_second": round(len(batch.answers) / summary.seconds, 1) if summary.seconds else 0.0}
    return InProcess(core_row, naive_row, cedar_row, batch_row, agreements)


def _add(results: dict[str, Any], config: RunConfig, release: ReleaseOutcome, release_rows: int,
         big: dict[str, Any] | None, writes: list[WriteResult], audit: dict[str, Any] | None) -> None:
    """Measurements 9 to 11, 13 and 14, their ratios and checks."""
    m = results["measurements"]
    m["document_release"] = release.release.as_dict(config.concurrency, RELEASE_BYTES)
    m["static_file"] = release.static.as_dict(config.concurrency, RELEASE_BYTES)
    m["document_release"]["reader"] = {"person": release.reader.person, "designation": release.reader.designation}
    m["large_release"] = big
    m["log_writes"] = {w.key: w.as_dict() for w in writes}

    m["audit_queries"] = audit
    r = results["ratios"]
    ok_rate = m["document_release"]["ok_per_second"]
    r["release_over_static"] = {"value": round(ok_rate / m["static_file"]["ok_per_second"], 3)
                                if m["static_file"]["ok_per_second"] else 0.0, "aim_at_least": None, "met": None}
    for backend in ("sqlite", "postgresql"):
        for batch in (1, 100):
            sink = m["log_writes"].get(f"{backend}_sink_batch_{batch}")
            core = m["log_writes"].get(f"{backend}_core_batch_{batch}")
            if sink and core and core["rows_per_second"]:
                r[f"sink_over_core_{backend}_batch_{batch}"] = {
                    "value": round(sink["rows_per_second"] / core["rows_per_second"], 3), "aim_at_least": None,
                    "met": None}
    answered = release.release_answers_200 + (1 if big and big["release_status"] == 200 else 0)
    results["checks"]["release"] = {
        **release.checks,
        "wrong_lengths": m["document_release"]["wrong_lengths"] + m["static_file"]["wrong_lengths"],
        "release_rows": release_rows,
        "release_answers_200": answered,
        "rows_match_200_answers": release_rows == answered,
    }


def _source() -> dict[str, Any]:
    """The commit measured, and whether the measured code differed from it (uncommitted changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--", "gateway", "models", "policy", "pyproject.toml")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": bool(changed)}


def _http(outcome: HttpOutcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    measured = outcome.measured
    wall = measured.summary.seconds
    return {
        **measured.summary.as_dict(),
        "statuses": {str(k): v for k, v in sorted(measured.statuses.items())},
        "ok_per_second": round(measured.ok / wall, 1) if wall else 0.0,
        # Decisions read from the 200 answers (and checked against the core's); None for the floor.
        "decisions": measured.decisions if outcome.checked else None,
        "decisions_per_second": (round(measured.decisions / wall, 1) if wall else 0.0) if outcome.checked else None,
        "target_rate": None if outcome.rate is None else round(outcome.rate, 1),
        "transport_errors": measured.transport_errors,
        "timed_out": measured.timed_out or outcome.warmup.timed_out,
        "warmup_requests": outcome.warmup.summary.operations,
        "error_bodies": {str(k): v for k, v in (outcome.warmup.error_bodies | measured.error_bodies).items()},
        "server_cpu_cores": None if outcome.server_cores is None else round(outcome.server_cores, 2),
        "writer_cpu_cores": None if outcome.writer_cores is None else round(outcome.writer_cores, 2),
        "client_cpu_cores": round(outcome.client_cores, 2),
        "cpu_us_each": _cpu_each(outcome),
        **(outcome.peak.as_dict() if outcome.peak else {"rss_before_mib": None, "peak_rss_mib": None}),
    }


def _cpu_each(outcome: HttpOutcome) -> dict[str, Any] | None:
    """Each process's CPU time over what the measured window answered (µs a decision; the floor: a 200
    answer), their sum (what one costs the machine, whatever core it ran on), and the rate this machine's
    cores could give at that cost if nothing else ran and nothing waited."""
    unit = "decision" if outcome.checked else "answer"
    count = outcome.measured.decisions if outcome.checked else outcome.measured.ok
    if not count:
        return None
    parts = {"gateway": outcome.server_cpu_seconds, "writer": outcome.writer_cpu_seconds,
             "client": outcome.measured.client_cpu_seconds}
    out: dict[str, Any] = {"unit": unit}
    out |= {k: None if v is None else round(v * 1e6 / count, 1) for k, v in parts.items()}
    spent = [v for v in parts.values() if v is not None]
    if parts["gateway"] is not None:
        total = sum(spent) * 1e6 / count
        out["total"] = round(total, 1)
        out["cores_allow_per_second"] = round((os.cpu_count() or 1) * 1e6 / total) if total else None
    return out


def _results(config: RunConfig, started: datetime, today: date, bundle: dict[str, Any], import_seconds: float,
             prepared: Prepared, inproc: InProcess, gateway: GatewayRun, floor: HttpOutcome) -> dict[str, Any]:
    allowed = sum(prepared.expected)
    http, bare = _http(gateway.single), _http(floor)
    assert http is not None and bare is not None
    return {
        "benchmark": "clearance-gateway",
        "schema": 3,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "decision_day": today.isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "cedarpy": _version("cedarpy"), "pycasbin": _version("pycasbin")},
        "source": _source(),
        "config": config.as_dict(),
        "registry": {name: len(entries) for name, entries in bundle.items()},
        "import_seconds": round(import_seconds, 2),
        "cases": {
            "decided": len(prepared.cases),
            "allowed": allowed,
            "denied": len(prepared.cases) - allowed,
            "reason_codes": dict(prepared.codes.most_common()),
            "core_failures": {"count": len(prepared.failures),
                              "examples": [f.as_dict() for f in prepared.failures[:5]]},
        },
        "memory": "peak_rss_mib: VmHWM of the process doing the work, reset (/proc/PID/clear_refs) when the "
                  "measurement began: this benchmark's own process for 1 to 4 and 12, the server for 5 to 10; "
                  "rss_before_mib: its VmRSS then",
        "measurements": {
            "decision_core": inproc.core,
            "pycasbin_naive": inproc.naive,
            "cedar": inproc.cedar,
            "cedar_batch": inproc.cedar_batch,
            "http_evaluation": http,
            "http_evaluation_paced": _http(gateway.paced),
            "http_batch": _http(gateway.batch),
            "fastapi_floor": bare,
        },
        "checks": {
            "peer_agreement": {name: a.as_dict() for name, a in inproc.agreements.items()},
            "gateway": gateway.checks,
        },
        "ratios": {},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
