"""The detail tables of a run: document release, large release, registry sizes, log writes, audit queries."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bench.aims import AIMS, budgets, cores_used
from bench.format import n as _n
from bench.format import ok as _ok
from bench.format import us as _us


def release_table(results: dict[str, Any]) -> Table:
    m = results["measurements"]
    release, static = m["document_release"], m["static_file"]
    table = Table(title=f"Document release: {release['body_bytes_expected']:,} bytes (100 KiB) of random data, "
                  f"{release['concurrency']} connections, same gateway process")
    table.add_column("measurement")
    for column in ("count", "seconds", "requests/s", "MB/s", "p50 µs", "p99 µs"):
        table.add_column(column, justify="right")
    for label, row in (("9 document release (documents:read)", release), ("10 static file, no auth", static)):
        table.add_row(label, f"{row['operations']:,} requests", _n(row["seconds"], 2), _n(row["ok_per_second"]),
                      _n(row["mb_per_second"]), _n(row["p50_us"]), _n(row["p99_us"]))
    ratio = results["ratios"]["release_over_static"]["value"]
    table.add_row("release / static (9 / 10)", "", "", f"{ratio:.3f}",
                  f"{release['mb_per_second'] / static['mb_per_second']:.3f}" if static["mb_per_second"] else "-",
                  "", "")
    return table


def big_release_table(results: dict[str, Any]) -> Table | None:
    big = results["measurements"].get("large_release")
    if not big:
        return None
    table = Table(title=f"11 large release: {big['size_bytes'] / 1e6:,.0f} MB of random data, gateway process "
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
    serialize = writes.get("serialize_us_per_row")
    table = Table(title="13 decision-log writes, in this process, every row chained: the gateway's path (raw "
                  "executemany) and the SQLAlchemy Core path before it; fresh database with the gateway's schema"
                  + ("" if serialize is None else f"; serializing and chaining alone: {serialize} µs a row"))
    table.add_column("database")
    table.add_column("rows / transaction", justify="right")
    table.add_column("path")
    for column in ("rows", "seconds", "rows/s", "CPU µs / row", "p50 µs / tx", "p99 µs / tx"):
        table.add_column(column, justify="right")
    for w in writes.values():
        if not isinstance(w, dict) or "path" not in w:
            continue
        t = w["transactions"]
        table.add_row(w["backend"], str(w["rows_per_transaction"]), w["path"], f"{w['rows']:,}",
                      _n(t["seconds"], 2), _n(w["rows_per_second"]), _n(w["cpu_us_per_row"]), _n(t["p50_us"]),
                      _n(t["p99_us"]))
    return table


def audit_table(results: dict[str, Any]) -> Table | None:
    audit = results["measurements"].get("audit_queries")
    if not audit:
        return None
    fill = audit["fill"]
    table = Table(title=f"14 audit list on {audit['rows']:,} decisions in PostgreSQL ({fill['table_mb']:,.0f} MB "
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


def sizes_table(results: dict[str, Any]) -> Table | None:
    sizes = results["measurements"].get("registry_sizes")
    if not sizes:
        return None
    table = Table(title=f"12 registry sizes, {sizes['designations']:,} designations each: decision core p50 "
                  f"growth {_n(sizes['p50_growth'], 2)}× from the smallest to the largest")
    table.add_column("persons", justify="right")
    for column in ("rosters", "documents", "generated", "database written", "snapshot read", "snapshot RSS",
                   "core p50", "core p99", "decisions/s"):
        table.add_column(column, justify="right")
    for s in sizes["sizes"]:
        d = s["decision_core"]
        table.add_row(f"{s['persons']:,}", f"{s['registry']['rosters']:,}", f"{s['registry']['documents']:,}",
                      f"{s['generate_seconds']:.1f} s", f"{s['database_build_seconds']:.1f} s",
                      f"{s['snapshot_load_seconds']:.1f} s", f"+{_n(s['snapshot_rss_growth_mib'])} MiB",
                      _us(d["p50_us"]), _us(d["p99_us"]), _n(d["per_second"]))
    return table


_CPU_ROWS = (("5 HTTP evaluation", "http_evaluation"), ("6 open loop", "http_evaluation_paced"),
             ("7 HTTP batch", "http_batch"), ("8 FastAPI floor", "fastapi_floor"),
             ("15 --workers N", "http_evaluation_workers"))


def cpu_table(results: dict[str, Any]) -> Table | None:
    """Where the machine's CPU went in each HTTP measurement: the gateway (uvicorn and its workers), the
    decision-log writer process and the load generator, in cores and in µs a decision; and the rate the
    machine's cores would allow at that cost. An aim above that rate needs less work a decision, or more
    cores, not less waiting."""
    m = results["measurements"]
    rows = [(label, m[key]) for label, key in _CPU_ROWS if m.get(key) and m[key].get("cpu_us_each")]
    if not rows:
        return None
    cpus = results["machine"]["cpus"]
    table = Table(title=f"Where the CPU went ({cpus} cores shared by the load generator, the gateway and its writer)")
    table.add_column("measurement")
    for column in ("answered /s", "gateway cores", "writer cores", "client cores", "gateway µs", "writer µs",
                   "client µs", "total µs", f"{cpus} cores allow /s"):
        table.add_column(column, justify="right")
    for label, row in rows:
        each = row["cpu_us_each"]
        rate = row["decisions_per_second"] if each["unit"] == "decision" else row["ok_per_second"]
        table.add_row(f"{label} (a {each['unit']})", _n(rate), _n(row["server_cpu_cores"], 2),
                      _n(row.get("writer_cpu_cores"), 2), _n(row["client_cpu_cores"], 2), _n(each["gateway"], 1),
                      _n(each["writer"], 1), _n(each["client"], 1), _n(each.get("total"), 1),
                      _n(each.get("cores_allow_per_second")))
    return table


def budget_table(results: dict[str, Any]) -> Table | None:
    """The HTTP aims as CPU budgets in this run's own costs (bench.aims.budgets): whether this machine could
    meet each at all, whatever waits; an aim whose budget is exceeded needs less CPU a decision or more cores."""
    rows = budgets(results)
    if not rows:
        return None
    says = {aim.key: f"{aim.what.split(' (')[-1].rstrip(')')} {aim.says}" for aim in AIMS}
    table = Table(title=f"What the HTTP aims allow at this run's costs (K = {cores_used(results):.2f} of "
                        f"{results['machine']['cpus']} cores, the most its processes used together)")
    for column in ("aim", "whose CPU", "allowed", "measured", "within"):
        table.add_column(column, justify="left" if column in ("aim", "whose CPU") else "right")
    for row in rows:
        unit = " µs" if row.unit == "µs" else " cores"
        digits = 1 if row.unit == "µs" else 2
        table.add_row(says[row.aim], row.part, f"{_n(row.allowed, digits)}{unit}", f"{_n(row.measured, digits)}{unit}",
                      _ok(row.within))
    return table
