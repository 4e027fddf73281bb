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
    what = ("POST /access/v1/evaluation on `clearance-gateway serve`, SQLite decision log"
            if key == "http_evaluation" else "bench/floor_app.py under uvicorn")
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
    return table


def ratios_table(results: dict[str, Any]) -> Table:
    table = Table(title="What the project aims at")
    for column in ("ratio", "value", "aim", "met"):
        table.add_column(column)
    core, http = results["ratios"]["core_over_naive"], results["ratios"]["http_over_floor"]
    table.add_row("decision core speed-up over naive PyCasbin enforce (1 / 2)", f"{core['value']:.1f}×",
                  f"≥ {core['aim_at_least']:g}×", _ok(core["met"]))
    table.add_row("HTTP evaluation throughput / bare FastAPI floor (3 / 4)", f"{http['value']:.2f}",
                  f"≥ {http['aim_at_least']:g}", _ok(http["met"]))
    return table


def checks_table(results: dict[str, Any]) -> Table:
    table = Table(title="Checks")
    for column in ("check", "result", "passed"):
        table.add_column(column)
    a, g = results["checks"]["naive_agreement"], results["checks"]["gateway"]
    table.add_row("naive enforce allow/deny == decision core, every call",
                  f"{a['agreed']:,} of {a['compared']:,} calls ({a['cases_covered']:,} distinct cases)",
                  _ok(a["agreed"] == a["compared"]))
    table.add_row("rows in `decisions` == 200 answers (warm-up included)",
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
    return table


def print_report(results: dict[str, Any], console: Console) -> None:
    for table in (measurements_table, notes_table, ratios_table, checks_table):
        console.print(table(results))


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
