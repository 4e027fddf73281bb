"""The benchmark's CPU accounting (issue #13): where the machine's cores went in each HTTP measurement,
the gateway's workers and its log writer included, so that an aim the cores cannot reach says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

from rich.console import Console

from bench.http_client import LoadResult
from bench.http_phase import HttpOutcome
from bench.report_details import cpu_table
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
