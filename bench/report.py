"""The results of a run, as rich tables and as a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROWS = (
    ("decision_core", "1 decision core", "decisions"),
    ("pycasbin_naive", "2 PyCasbin naive enforce", "decisions"),
    ("http_evaluation", "3 HTTP evaluation, log on", "requests"),
    ("fastapi_floor", "4 bare FastAPI floor", "requests"),
)
NUMERIC = ("count", "seconds", "per second", "p50 µs", "p99 µs")


def _n(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _ok(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[bold red]NO[/]"


def _notes(key: str, results: dict[str, Any]) -> str:
    m, cases = results["measurements"][key], results["cases"]
    if key == "decision_core":
        return (f'decide(snapshot.facts(p, d), "read", today, policy), warm caches; '
                f'{cases["decided"]:,} cases, {cases["allowed"]:,} allow / {cases["denied"]:,} deny')
    if key == "pycasbin_naive":
        return "casbin.Enforcer, eval() rules over attribute objects built per request (bench/naive/)"
    cores = f"server {_n(m['server_cpu_cores'], 2)} cores, client {_n(m['client_cpu_cores'], 2)} cores"
    statuses = ", ".join(f"{k}: {v:,}" for k, v in m["statuses"].items()) or "no answers"
    errors = f", {m['transport_errors']} transport errors" if m["transport_errors"] else ""
    what = ("POST /access/v1/evaluation on the gateway (bench/gateway_asgi.py under uvicorn, as "
            "`clearance-gateway serve` runs it), SQLite decision log" if key == "http_evaluation"
            else "bench/floor_app.py under uvicorn")
    return f"{what}; {results['config']['concurrency']} connections; {statuses}{errors}; {cores}"


def measurements_table(results: dict[str, Any]) -> Table:
    machine = results["machine"]
    load = machine.get("load_average_at_start")
    busy = f", load average {load[0]:.2f} at start" if load else ""
    table = Table(title=f"clearance-gateway benchmark: {results['config']['persons']:,} persons, "
                  f"{machine['cpus']} CPUs{busy}, Python {machine['python']}")
    table.add_column("measurement")
    for column in NUMERIC:
        table.add_column(column, justify="right")
    for key, label, unit in ROWS:
        m = results["measurements"][key]
        table.add_row(label, f"{m['operations']:,} {unit}", _n(m["seconds"], 2), _n(m["per_second"]),
                      _n(m["p50_us"]), _n(m["p99_us"]))
    return table


def notes_table(results: dict[str, Any]) -> Table:
    table = Table(title="How each was measured", show_header=False)
    table.add_column("measurement", no_wrap=True)
    table.add_column("notes")
    for key, label, _unit in ROWS:
        table.add_row(label, _notes(key, results))
    m = results["measurements"]
    if "document_release" in m:
        release, static = m["document_release"], m["static_file"]
        reader = release["reader"]
        table.add_row("5 document release", f"GET /v1/documents/{{id}}/content, a documents:read token of "
                      f"{reader['person']} (allowed for {reader['designation']}): decide, log, verify, stream; "
                      f"server {_n(release['server_cpu_cores'], 2)} cores, client "
                      f"{_n(release['client_cpu_cores'], 2)} cores")
        table.add_row("6 static file", f"GET /bench-static/… (starlette StaticFiles mounted by bench/gateway_asgi.py "
                      f"only); server {_n(static['server_cpu_cores'], 2)} cores, client "
                      f"{_n(static['client_cpu_cores'], 2)} cores")
    return table


def ratios_table(results: dict[str, Any]) -> Table:
    table = Table(title="What the project aims at")
    for column in ("ratio", "value", "aim", "met"):
        table.add_column(column)
    ratios = results["ratios"]
    core, http = ratios["core_over_naive"], ratios["http_over_floor"]
    table.add_row("decision core speed-up over naive PyCasbin enforce (1 / 2)", f"{core['value']:.1f}×",
                  f"≥ {core['aim_at_least']:g}×", _ok(core["met"]))
    table.add_row("HTTP evaluation throughput / bare FastAPI floor (3 / 4)", f"{http['value']:.2f}",
                  f"≥ {http['aim_at_least']:g}", _ok(http["met"]))
    if "release_over_static" in ratios:
        table.add_row("document release / static file of the same bytes, requests per second (5 / 6)",
                      f"{ratios['release_over_static']['value']:.3f}", "-", "-")
    for backend, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        for batch in (1, 100):
            ratio = ratios.get(f"chain_on_over_off_{backend}_batch_{batch}")
            if ratio:
                table.add_row(f"log rows/s, chain on / chain off, {name}, {batch} per transaction (8)",
                              f"{ratio['value']:.2f}", "-", "-")
    return table


def release_table(results: dict[str, Any]) -> Table:
    m = results["measurements"]
    release, static = m["document_release"], m["static_file"]
    table = Table(title=f"Document release: {release['body_bytes_expected']:,} bytes (100 KiB) of random data, "
                  f"{release['concurrency']} connections, same gateway process")
    table.add_column("measurement")
    for column in ("count", "seconds", "requests/s", "MB/s", "p50 µs", "p99 µs"):
        table.add_column(column, justify="right")
    for label, row in (("5 document release (documents:read)", release), ("6 static file, no auth", static)):
        table.add_row(label, f"{row['operations']:,} requests", _n(row["seconds"], 2), _n(row["ok_per_second"]),
                      _n(row["mb_per_second"]), _n(row["p50_us"]), _n(row["p99_us"]))
    ratio = results["ratios"]["release_over_static"]["value"]
    table.add_row("release / static (5 / 6)", "", "", f"{ratio:.3f}",
                  f"{release['mb_per_second'] / static['mb_per_second']:.3f}" if static["mb_per_second"] else "-",
                  "", "")
    return table


def big_release_table(results: dict[str, Any]) -> Table | None:
    big = results["measurements"].get("large_release")
    if not big:
        return None
    table = Table(title=f"7 large release: {big['size_bytes'] / 1e6:,.0f} MB of random data, gateway process "
                  "VmRSS sampled every 50 ms")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = (
        ("upload (multipart, streamed from a file)", f"{big['upload_seconds']:.2f} s, "
         f"{big['upload_mb_per_second']:,.1f} MB/s"),
        ("RSS before the upload", f"{_n(big['rss_before_upload_mib'])} MiB"),
        ("RSS peak during the upload", f"{_n(big['rss_peak_during_upload_mib'])} MiB"),
        ("RSS baseline (after the upload, before the release)", f"{_n(big['rss_baseline_mib'])} MiB"),
        ("RSS peak during the release (sampled)", f"{_n(big['rss_peak_during_release_mib'])} MiB "
         f"({big['rss_samples']} samples)"),
        ("RSS high-water mark during the release (VmHWM after a reset)",
         f"{_n(big['rss_high_water_during_release_mib'])} MiB"),
        ("release: status, bytes, time", f"{big['release_status']}, {big['release_bytes']:,} bytes, "
         f"{big['release_seconds']:.2f} s"),
        ("release throughput", f"{big['release_mb_per_second']:,.1f} MB/s"),
    )
    for label, value in rows:
        table.add_row(label, value)
    return table


def log_writes_table(results: dict[str, Any]) -> Table | None:
    writes = results["measurements"].get("log_writes")
    if not writes:
        return None
    table = Table(title="8 decision-log writes, in this process: realistic rows from decision_row, "
                  "fresh database with the gateway's schema")
    table.add_column("database")
    table.add_column("rows / transaction", justify="right")
    table.add_column("chain")
    for column in ("rows", "seconds", "rows/s", "p50 µs / tx", "p99 µs / tx"):
        table.add_column(column, justify="right")
    for w in writes.values():
        t = w["transactions"]
        table.add_row(w["backend"], str(w["rows_per_transaction"]), "on (append)" if w["chain"] else "off (INSERT)",
                      f"{w['rows']:,}", _n(t["seconds"], 2), _n(w["rows_per_second"]), _n(t["p50_us"]),
                      _n(t["p99_us"]))
    return table


def audit_table(results: dict[str, Any]) -> Table | None:
    audit = results["measurements"].get("audit_queries")
    if not audit:
        return None
    fill = audit["fill"]
    table = Table(title=f"9 audit list on {audit['rows']:,} decisions in PostgreSQL ({fill['table_mb']:,.0f} MB "
                  f"table, {fill['indexes_mb']:,.0f} MB indexes), {audit['page_size']} per page, the API's code")
    table.add_column("filter")
    table.add_column("page")
    for column in ("items", "runs", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_column("plan of the first page")
    for name, pages in audit["pages"].items():
        for page in ("first", "third"):
            p = pages[page]
            if p is None:
                table.add_row(name, page, "-", "-", "-", "-", "fewer than three pages")
                continue
            scan = pages["scan"] if page == "first" else ""
            if page == "first" and pages["seq_scan"]:
                scan = f"[bold red]{scan}[/]"
            table.add_row(name, page, str(p["items"]), str(p["operations"]), _n(p["p50_us"] / 1000, 2),
                          _n(p["p99_us"] / 1000, 2), scan)
    return table


def explain_text(results: dict[str, Any]) -> str | None:
    audit = results["measurements"].get("audit_queries")
    if not audit:
        return None
    verdict = "uses an index, no Seq Scan on decisions" if audit["person_uses_index"] else "SCANS THE TABLE"
    return (f"EXPLAIN (FORMAT TEXT) of the person-filtered first page (person={audit['samples']['person']}, "
            f"{audit['rows']:,} rows): {verdict}\n{audit['person_explain']}")


def checks_table(results: dict[str, Any]) -> Table:
    table = Table(title="Checks")
    for column in ("check", "result", "passed"):
        table.add_column(column)
    a, g = results["checks"]["naive_agreement"], results["checks"]["gateway"]
    table.add_row("naive enforce allow/deny == decision core, every call",
                  f"{a['agreed']:,} of {a['compared']:,} calls ({a['cases_covered']:,} distinct cases)",
                  _ok(a["agreed"] == a["compared"]))
    table.add_row("rows of channel `authzen` in `decisions` == 200 answers (warm-up included)",
                  f"{g['decision_rows']:,} rows, {g['answers_200']:,} answers",
                  _ok(g["rows_match_200_answers"]))
    table.add_row("HTTP decisions == decision core", f"{g['disagreements_with_core']:,} disagreements",
                  _ok(g["disagreements_with_core"] == 0))
    http, bare = results["measurements"]["http_evaluation"], results["measurements"]["fastapi_floor"]
    all_ok = all(set(m["statuses"]) <= {"200"} and not m["transport_errors"] and not m["timed_out"]
                 for m in (http, bare))
    detail = f"gateway {http['statuses']}, floor {bare['statuses']}"
    errors = http["error_bodies"] or bare["error_bodies"]
    if errors:
        status, body = next(iter(errors.items()))
        detail += f"; first {status}: {body[:200]}"
    table.add_row("every HTTP answer is 200 (the ratio counts 200 answers only)", detail, _ok(all_ok))
    failures = results["cases"]["core_failures"]
    detail = f"{failures['count']} of {results['config']['cases']:,} prepared cases raised"
    if failures["count"]:
        example = failures["examples"][0]
        detail += (f" (left out of every timing), e.g. {example['person']} × {example['document']}: "
                   f"{example['error']}; over HTTP it is answered {g.get('failure_probe_status')}")
    table.add_row("decision core decides every prepared case", detail, _ok(failures["count"] == 0))
    _release_checks(table, results)
    return table


def _release_checks(table: Table, results: dict[str, Any]) -> None:
    m, r = results["measurements"], results["checks"].get("release")
    if r is None:
        return
    release, static = m["document_release"], m["static_file"]
    table.add_row("every release and static body is 100 KiB (5, 6; warm-up included)",
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
        table.add_row("PostgreSQL measured (8, 9)", str(skipped), "[yellow]skipped[/]")


def print_report(results: dict[str, Any], console: Console) -> None:
    for make in (measurements_table, notes_table, release_table, big_release_table, log_writes_table, audit_table,
                 ratios_table, checks_table):
        table = make(results)
        if table is not None:
            console.print(table)
    plan = explain_text(results)
    if plan:
        console.print(plan, markup=False, highlight=False)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
