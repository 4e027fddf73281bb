"""The results of a run: one table of every measurement, how each was measured, the aims, the checks;
and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.aims import AIMS
from bench.format import n as _n
from bench.format import ok as _ok
from bench.format import us as _us
from bench.report_details import (
    audit_table,
    big_release_table,
    budget_table,
    cpu_table,
    explain_text,
    log_writes_table,
    release_table,
    sizes_table,
)

COLUMNS = ("count", "seconds", "throughput", "p50", "p99", "peak RSS MiB")
PROCESS = "bench"  # in-process measurements: the peak is this benchmark's own process
SERVER = "server"


def _mem(m: dict[str, Any], where: str) -> str:
    peak = m.get("peak_rss_mib")
    return "-" if peak is None else f"{peak:,.1f} ({where})"


class _Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, label: str, row: dict[str, Any] | None, unit: str, rate: float | None, rate_unit: str,
            where: str) -> None:
        if row is None:
            return
        self.rows.append((label, f"{row['operations']:,} {unit}", _n(row["seconds"], 2), f"{_n(rate)} {rate_unit}",
                          _us(row["p50_us"]), _us(row["p99_us"]), _mem(row, where)))


def _rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every measurement with its count, throughput, p50, p99 and peak RSS."""
    m, config, out = results["measurements"], results["config"], _Rows()
    core, naive, cedar, cb = m["decision_core"], m["pycasbin_naive"], m["cedar"], m.get("cedar_batch")
    out.add("1 decision core (as served: memoized)", core, "decisions", core["per_second"], "decisions/s", PROCESS)
    if "unmemoized" in core:
        raw = core["unmemoized"]
        out.add("1b decision core, unmemoized", raw, "decisions", raw["per_second"], "decisions/s", PROCESS)
    out.add("2 PyCasbin naive enforce", naive, "decisions", naive["per_second"], "decisions/s", PROCESS)
    out.add("3 cedarpy is_authorized", cedar, "decisions", cedar["per_second"], "decisions/s", PROCESS)
    if cb:
        out.add(f"4 cedarpy batch of {cb['batch_size']} *", cb, "calls",
                cb["decisions_per_second"], "decisions/s", PROCESS)
    http, paced, batch = m["http_evaluation"], m.get("http_evaluation_paced"), m.get("http_batch")
    out.add("5 HTTP evaluation", http, "requests",
            http["ok_per_second"], "req/s", SERVER)
    if paced:
        out.add(f"6 HTTP evaluation at {config['paced_fraction']:.0%} of 5", paced, "requests",
                paced["ok_per_second"], f"req/s (asked {_n(paced['target_rate'])})", SERVER)
    if batch:
        out.add(f"7 HTTP batch of {config['batch_size']} *", batch, "requests", batch["decisions_per_second"],
                "decisions/s", SERVER)
    floor = m["fastapi_floor"]
    out.add("8 FastAPI floor", floor, "requests", floor["ok_per_second"], "req/s", SERVER)
    workers = m.get("http_evaluation_workers")
    if workers:
        out.add(f"15 HTTP evaluation, {workers['workers']} workers", workers, "requests", workers["ok_per_second"],
                "req/s", SERVER)
    release, static = m.get("document_release"), m.get("static_file")
    if release and static:
        out.add("9 release of 100 KiB", release, "requests", release["ok_per_second"],
                f"req/s, {_n(release['mb_per_second'])} MB/s", SERVER)
        out.add("10 static file of 100 KiB", static, "requests", static["ok_per_second"],
                f"req/s, {_n(static['mb_per_second'])} MB/s", SERVER)
    big = m.get("large_release")
    if big:
        peak = big["rss_high_water_during_release_mib"] or big["rss_peak_during_release_mib"]
        out.rows.append((f"11 release of {big['size_bytes'] / 1e6:,.0f} MB", "1 request",
                         _n(big["release_seconds"], 2), f"{_n(big['release_mb_per_second'])} MB/s", "-", "-",
                         f"{_n(peak)} ({SERVER}; {_n(big['rss_baseline_mib'])} before)"))
    sizes = m.get("registry_sizes")
    for size in sizes["sizes"] if sizes else ():
        d = size["decision_core"]
        out.add(f"12 decision core, {size['persons']:,} persons", d, "decisions", d["per_second"], "decisions/s",
                PROCESS)
    return out.rows


def measurements_table(results: dict[str, Any]) -> Table:
    machine = results["machine"]
    load = machine.get("load_average_at_start")
    busy = f", load average {load[0]:.2f} at start" if load else ""
    quick = ", --quick" if results["config"].get("quick") else ""
    table = Table(title=f"clearance-gateway benchmark: {results['config']['persons']:,} persons, "
                  f"{machine['cpus']} CPUs{busy}, Python {machine['python']}{quick}")
    table.add_column("measurement")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for row in _rows(results):
        table.add_row(*row)
    table.caption = ("* p50 and p99 of a whole call or request of the batch.  5 to 10: logged decisions (SQLite), "
                     f"{results['config']['concurrency']} connections (7: {results['config']['batch_concurrency']}); "
                     "6 is open loop.  12: " + (f"{sizes['designations']:,} designations each"
                                               if (sizes := results["measurements"].get("registry_sizes")) else "-"))
    return table


def _http_note(results: dict[str, Any], key: str, what: str) -> str:
    m = results["measurements"][key]
    writer = f", writer {_n(m['writer_cpu_cores'], 2)} cores" if m.get("writer_cpu_cores") is not None else ""
    cores = f"server {_n(m['server_cpu_cores'], 2)} cores{writer}, client {_n(m['client_cpu_cores'], 2)} cores"
    statuses = ", ".join(f"{k}: {v:,}" for k, v in m["statuses"].items()) or "no answers"
    errors = f", {m['transport_errors']} transport errors" if m["transport_errors"] else ""
    return f"{what}; {statuses}{errors}; {cores}"


def notes_table(results: dict[str, Any]) -> Table:
    table = Table(title="How each was measured", show_header=False)
    table.add_column("measurement", no_wrap=True)
    table.add_column("notes")
    m, cases, config = results["measurements"], results["cases"], results["config"]
    table.add_row("1 decision core", f'memo.decide(snapshot, p, d, "read", today, policy), the gateway\'s path, '
                  "warm caches (a question asked before that day comes from the snapshot's memo); 1b "
                  'decide(snapshot.facts(p, d), "read", today, policy) on every call; '
                  f'{cases["decided"]:,} cases, {cases["allowed"]:,} allow / {cases["denied"]:,} deny')
    table.add_row("2 PyCasbin naive", "casbin.Enforcer, eval() rules over attribute objects built per request "
                  "(bench/naive/)")
    table.add_row("3, 4 cedarpy", f"cedarpy {results['machine'].get('cedarpy')}, bench/cedar/policy.cedar parsed "
                  "once; entities and context built per request from the naive peer's attributes (bench/cedar/); "
                  "4 hands a batch's requests, with their entities, to one is_authorized_batch call")
    gateway = ("POST /access/v1/evaluation on the gateway (bench/gateway_asgi.py under uvicorn, as "
               "`clearance-gateway serve` runs it: one worker), SQLite decision log")
    table.add_row("5 HTTP evaluation", _http_note(results, "http_evaluation", f"{gateway}; closed loop"))
    if m.get("http_evaluation_paced"):
        table.add_row("6 open loop", _http_note(results, "http_evaluation_paced", "the same requests sent on a "
                      "schedule; latency from each request's due time, so a server that falls behind pays for it"))
    if m.get("http_batch"):
        table.add_row("7 HTTP batch", _http_note(results, "http_batch", f"POST /access/v1/evaluations, "
                      f"{config['batch_size']} evaluations a request, each decision logged"))
    table.add_row("8 bare FastAPI floor", _http_note(results, "fastapi_floor", "bench/floor_app.py under uvicorn"))
    release = m.get("document_release")
    if release:
        reader = release["reader"]
        table.add_row("9 document release", f"GET /v1/documents/{{id}}/content, a documents:read token of "
                      f"{reader['person']} (allowed for {reader['designation']}): decide, log, verify, stream; "
                      f"server {_n(release['server_cpu_cores'], 2)} cores")
        table.add_row("10 static file", "GET /bench-static/… (starlette StaticFiles mounted by "
                      "bench/gateway_asgi.py only)")
    sizes = m.get("registry_sizes")
    if sizes:
        table.add_row("12 registry sizes", sizes["build"])
    table.add_row("peak RSS MiB", results["memory"])
    return table


def aims_table(results: dict[str, Any]) -> Table:
    table = Table(title="What the project aims at (issue #7)")
    for column in ("aim", "value", "target", "met"):
        table.add_column(column)
    for aim in AIMS:
        a = results.get("aims", {}).get(aim.key)
        if a is None:
            continue
        digits = 0 if aim.unit == "decisions/s" else 2
        value = "-" if a["value"] is None else f"{a['value']:,.{digits}f}"
        unit = aim.unit if aim.unit in ("", "×") else f" {aim.unit}"
        table.add_row(a["what"], value + unit, a["aim"], _ok(a["met"]))
    ratios = results["ratios"]
    if "release_over_static" in ratios:
        table.add_row("for information: document release / static file, requests per second (9 / 10)",
                      f"{ratios['release_over_static']['value']:.3f}", "-", "-")
    sink = (results["measurements"].get("log_writes") or {}).get("sqlite_sink_batch_100")
    if sink:
        table.add_row("for information: the writer's own CPU a row (chain, insert, commit), SQLite, 100 a commit "
                      "(13)", f"{sink['cpu_us_per_row']:.2f} µs", "-", "-")
    for backend, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        for batch in (1, 100):
            ratio = ratios.get(f"sink_over_core_{backend}_batch_{batch}")
            if ratio:
                table.add_row(f"for information: log rows/s, gateway path / SQLAlchemy Core path, {name}, {batch} "
                              "per transaction (13)",
                              f"{ratio['value']:.2f}", "-", "-")
    return table


PEERS = (("pycasbin_naive", "naive PyCasbin enforce (2)"), ("cedar", "cedarpy is_authorized (3)"),
         ("cedar_batch", "cedarpy is_authorized_batch (4)"))


def checks_table(results: dict[str, Any]) -> Table:
    table = Table(title="Checks")
    for column in ("check", "result", "passed"):
        table.add_column(column)
    for key, label in PEERS:
        a = results["checks"]["peer_agreement"].get(key)
        if a is not None:
            detail = f"{a['agreed']:,} of {a['compared']:,} decisions ({a['cases_covered']:,} distinct cases)"
            if a["examples"]:
                e = a["examples"][0]
                detail += f"; e.g. {e['person']} × {e['document']}: core {e['core']} {e['core_reasons']}"
            table.add_row(f"{label} allow/deny == decision core, every call", detail,
                          _ok(a["agreed"] == a["compared"]))
    g = results["checks"]["gateway"]
    table.add_row("rows of channel `authzen` in `decisions` == decisions answered 200 (5, 6, 7, warm-ups included)",
                  f"{g['decision_rows']:,} rows, {g['decisions_answered_200']:,} decisions",
                  _ok(g["rows_match_decisions"]))
    table.add_row("HTTP decisions == decision core (5, 6, 7)", f"{g['disagreements_with_core']:,} disagreements",
                  _ok(g["disagreements_with_core"] == 0))
    w = results["checks"].get("gateway_workers")
    if w:
        table.add_row("rows of channel `authzen` added by 15 == its decisions answered 200",
                      f"{w['decision_rows']:,} rows, {w['decisions_answered_200']:,} decisions",
                      _ok(w["rows_match_decisions"] and w["disagreements_with_core"] == 0))
    m = results["measurements"]
    http = [(k, m[k]) for k in ("http_evaluation", "http_evaluation_paced", "http_batch", "fastapi_floor",
                                "http_evaluation_workers") if m.get(k)]
    all_ok = all(set(x["statuses"]) <= {"200"} and not x["transport_errors"] and not x["timed_out"] for _, x in http)
    detail = "; ".join(f"{k} {x['statuses']}" for k, x in http)
    errors = next((x["error_bodies"] for _, x in http if x["error_bodies"]), None)
    if errors:
        status, body = next(iter(errors.items()))
        detail += f"; first {status}: {body[:200]}"
    table.add_row("every HTTP answer is 200 (the rates count 200 answers only)", detail, _ok(all_ok))
    failures = results["cases"]["core_failures"]
    detail = f"{failures['count']} of {results['config']['cases']:,} prepared cases raised"
    if failures["count"]:
        example = failures["examples"][0]
        detail += (f" (left out of every timing), e.g. {example['person']} × {example['document']}: "
                   f"{example['error']}; over HTTP it is answered {g.get('failure_probe_status')}")
    table.add_row("decision core decides every prepared case", detail, _ok(failures["count"] == 0))
    sizes = m.get("registry_sizes")
    for size in sizes["sizes"] if sizes else ():
        table.add_row(f"decision core decides every case at {size['persons']:,} persons (12)",
                      f"{size['cases']['failures']} of {size['cases']['decided'] + size['cases']['failures']:,} "
                      "raised", _ok(size["cases"]["failures"] == 0))
    _release_checks(table, results)
    return table


def _release_checks(table: Table, results: dict[str, Any]) -> None:
    m, r = results["measurements"], results["checks"].get("release")
    if r is None:
        return
    release, static = m["document_release"], m["static_file"]
    table.add_row("every release and static body is 100 KiB (9, 10; warm-up included)",
                  f"{r['wrong_lengths']:,} of another length", _ok(r["wrong_lengths"] == 0))
    all_ok = all(set(x["statuses"]) <= {"200"} and not x["transport_errors"] and not x["timed_out"]
                 for x in (release, static))
    detail = f"release {release['statuses']}, static {static['statuses']}"
    errors = release["error_bodies"] or static["error_bodies"]
    if errors:
        status, body = next(iter(errors.items()))
        detail += f"; first {status}: {body[:200]}"
    table.add_row("every release and static answer is 200", detail, _ok(all_ok))
    sha = r["uploaded_sha256_matches"] and r["first_release_sha256_matches"] and r["static_sha256_matches"]
    table.add_row("uploaded, released and static bytes have the file's sha256", "upload, first release, static",
                  _ok(sha))
    table.add_row("rows of channel `release` in `decisions` == release 200 answers",
                  f"{r['release_rows']:,} rows, {r['release_answers_200']:,} answers", _ok(r["rows_match_200_answers"]))
    big = m.get("large_release")
    if big:
        table.add_row("large release: the bytes received have the upload's sha256",
                      f"{big['release_bytes']:,} bytes, status {big['release_status']}",
                      _ok(big["release_sha256_matches"] and big["uploaded_sha256_matches"]))
    audit = m.get("audit_queries")
    if audit:
        scans = [name for name, pages in audit["pages"].items() if pages["seq_scan"]]
        table.add_row("no audit filter's first page plans a Seq Scan on decisions",
                      ", ".join(scans) if scans else f"{len(audit['pages'])} filters explained", _ok(not scans))
    skipped = results.get("postgres_skipped")
    if skipped:
        table.add_row("PostgreSQL measured (13, 14)", str(skipped), "[yellow]skipped[/]")


def print_report(results: dict[str, Any], console: Console) -> None:
    for make in (measurements_table, notes_table, release_table, big_release_table, sizes_table, log_writes_table,
                 audit_table, cpu_table, budget_table, aims_table, checks_table):
        table = make(results)
        if table is not None:
            console.print(table)
    plan = explain_text(results)
    if plan:
        console.print(plan, markup=False, highlight=False)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
