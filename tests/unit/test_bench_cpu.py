"""The benchmark's CPU accounting (issue #13): where the machine's cores went in each HTTP measurement,
the gateway's workers and its log writer included, so that an aim the cores cannot reach says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from rich.console import Console

from bench.aims import budgets, cores_used
from bench.http_client import LoadResult
from bench.http_phase import HttpOutcome
from bench.report_details import budget_table, cpu_table
from bench.runner import _cpu_each, _http
from bench.servers import children, cpu_seconds, process_running, tree_cpu_seconds
from bench.stats import summarize

_BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"


def test_a_process_tree_counts_the_cpu_of_its_children() -> None:
    """uvicorn's workers are children of the process the benchmark started: their CPU counts."""
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys\n"
                               f"subprocess.run([sys.executable, '-c', {_BUSY!r}, 'log-writer'])"])  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kids = children(parent.pid)
            if kids and (cpu_seconds(kids[0]) or 0) >= 0.25:
                break
            time.sleep(0.05)
        own, tree = cpu_seconds(parent.pid), tree_cpu_seconds(parent.pid)
        assert own is not None and tree is not None and tree - own >= 0.25
        assert process_running("log-writer") is None  # a grandchild is not this process's child
    finally:
        for pid in children(parent.pid):
            subprocess.run(["kill", str(pid)], check=False)
        parent.kill()
        parent.wait()
    assert tree_cpu_seconds(parent.pid) is None  # gone


def test_the_writer_process_is_found_among_this_process_children_by_its_command() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "log-writer"])
    try:
        assert process_running("log-writer") == child.pid
        assert process_running("no-such-word") is None
    finally:
        child.kill()
        child.wait()


def _outcome(*, checked: bool, decisions: int, ok: int, gateway: float, writer: float | None,
             client: float) -> HttpOutcome:  # fmt: skip
    measured = LoadResult(summarize([1_000_000] * ok, 2.0), statuses=Counter({200: ok}), decisions=decisions,
                          client_cpu_seconds=client)  # fmt: skip
    outcome = HttpOutcome("x", measured, LoadResult(summarize([], 0.0)), gateway, checked=checked)
    outcome.writer_cpu_seconds = writer
    return outcome


def test_cpu_a_decision_adds_up_the_processes_and_says_what_the_cores_allow() -> None:
    batch = _outcome(checked=True, decisions=20_000, ok=200, gateway=1.2, writer=1.5, client=0.1)
    each = _cpu_each(batch)
    assert each is not None
    assert each["unit"] == "decision"
    assert (each["gateway"], each["writer"], each["client"], each["total"]) == (60.0, 75.0, 5.0, 140.0)
    assert each["cores_allow_per_second"] == round((os.cpu_count() or 1) * 1e6 / 140.0)
    floor = _cpu_each(_outcome(checked=False, decisions=0, ok=10_000, gateway=1.5, writer=None, client=0.5))
    assert floor is not None and floor["unit"] == "answer" and floor["writer"] is None and floor["total"] == 200.0
    assert _cpu_each(_outcome(checked=True, decisions=0, ok=0, gateway=0.0, writer=None, client=0.0)) is None


def test_the_cpu_table_shows_each_measurement_and_skips_results_made_before_it() -> None:
    row = _http(_outcome(checked=True, decisions=20_000, ok=200, gateway=1.2, writer=1.5, client=0.1))
    assert row is not None and row["writer_cpu_cores"] == 0.75 and row["server_cpu_cores"] == 0.6
    results = {"machine": {"cpus": 2}, "measurements": {"http_batch": row}}
    console = Console(width=200, record=True)
    table = cpu_table(results)
    assert table is not None
    console.print(table)
    text = console.export_text()
    allowed = f"{round((os.cpu_count() or 1) * 1e6 / 140.0):,}"
    assert "7 HTTP batch (a decision)" in text and "140.0" in text and allowed in text
    row.pop("cpu_us_each")  # a result file written before this accounting
    assert cpu_table(results) is None


def _measurement(cores: tuple[float, float | None, float], per_second: float, each: dict[str, float] | None,
                 **rates: float) -> dict[str, Any]:  # fmt: skip
    server, writer, client = cores
    return {"server_cpu_cores": server, "writer_cpu_cores": writer, "client_cpu_cores": client,
            "ok_per_second": per_second, "decisions_per_second": per_second, "cpu_us_each": each, **rates}  # fmt: skip


def _budget_results() -> dict[str, Any]:
    """c2e1a96's full run, rounded: the figures the README reads its budgets from."""
    return {"machine": {"cpus": 2}, "measurements": {
        "http_evaluation": _measurement((0.90, 0.51, 0.20), 3_700.0,
                                        {"gateway": 243.0, "writer": 137.0, "client": 53.0, "total": 433.0}),
        "http_batch": _measurement((0.58, 0.79, 0.05), 11_100.0,
                                   {"gateway": 53.0, "writer": 71.0, "client": 4.0, "total": 128.0}),
        "fastapi_floor": _measurement((0.99, None, 0.37), 7_800.0, {"gateway": 127.0, "writer": None, "client": 47.0,
                                                                    "total": 174.0}),
        "http_evaluation_workers": _measurement((0.92, 0.44, 0.17), 3_500.0, None),
    }}  # fmt: skip


def test_each_http_aim_becomes_a_cpu_budget_in_the_run_s_own_costs() -> None:
    results = _budget_results()
    assert cores_used(results) == pytest.approx(1.61)  # 5's three processes: the most used together
    got = {(b.aim, b.part): (round(b.allowed, 1), b.measured, b.within) for b in budgets(results)}
    assert got == {
        # 0.7 of the floor's 7,800 answers a second: 5,460; one event loop may spend 1/5,460 s on each
        ("http_over_floor", "gateway (one event loop)"): (183.2, 243.0, False),
        ("http_over_floor", "gateway, writer and load generator"): (294.9, 433.0, False),
        ("batch_rate", "gateway (one event loop)"): (50.0, 53.0, False),
        ("batch_rate", "writer (one thread)"): (50.0, 71.0, False),
        ("batch_rate", "gateway, writer and load generator"): (80.5, 128.0, False),
        ("workers_over_one", "cores for 5's load times the aim, at 5's costs"): (1.6, pytest.approx(2.737), False),
    }


def test_a_budget_is_met_where_the_costs_allow_and_old_results_give_none() -> None:
    results = _budget_results()
    batch = results["measurements"]["http_batch"]
    batch["cpu_us_each"] = {"gateway": 30.0, "writer": 40.0, "client": 4.0, "total": 74.0}
    within = {b.part: b.within for b in budgets(results) if b.aim == "batch_rate"}
    assert within == {"gateway (one event loop)": True, "writer (one thread)": True,
                      "gateway, writer and load generator": True}  # fmt: skip
    batch["cpu_us_each"] = {"unit": "decision", "gateway": None, "writer": 40.0, "client": 4.0}  # no gateway CPU
    assert "batch_rate" not in {b.aim for b in budgets(results)}
    for row in results["measurements"].values():
        row["cpu_us_each"] = None  # a result file written before the CPU accounting
    assert [b.aim for b in budgets(results)] == ["workers_over_one"]
    assert budgets({"machine": {"cpus": 2}, "measurements": {}}) == [] and cores_used({"measurements": {}}) is None


def test_the_budget_table_says_which_aims_this_machine_cannot_give() -> None:
    console = Console(width=200, record=True)
    table = budget_table(_budget_results())
    assert table is not None
    console.print(table)
    text = console.export_text()
    assert "K = 1.61 of 2 cores" in text
    assert "7 ≥ 20,000 decisions/s" in text and "writer (one thread)" in text and "71.0 µs" in text
    assert "15 / 5 ≥ 1.7×" in text and "2.74 cores" in text and "NO" in text
    assert budget_table({"machine": {"cpus": 2}, "measurements": {}}) is None
