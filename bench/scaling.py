"""Measurement 12: the decision core on registries of growing size, the same number of designations.

For each size a registry is generated (generator.py, `designations` designations, everything else
scaling with the persons), written into a fresh gateway database (Workspace.bulk_load: `registry
import` cannot take these sizes in reasonable time), read back with the gateway's own
`load_snapshot`, and the decision core timed on it exactly as in measurement 1 (a fresh policy, its
memo warmed by deciding every case once). The growth is the p50 at the largest size over the p50 at
the smallest.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bench.cases import prepare_cases
from bench.generator import Shape, generate_bundle
from bench.inprocess import bench_core, prepare
from bench.memory import mib, peak_rss, status_kib
from bench.workspace import POLICY_DIR, Workspace
from gateway.policy.files import load_policy

Say = Callable[[str], None]


@dataclass(frozen=True)
class SizePlan:
    sizes: Sequence[int]  # persons
    designations: int
    cases: int
    seed: int
    seconds: float
    max_calls: int


def bench_sizes(root: Path, plan: SizePlan, today: date, say: Say) -> dict[str, Any]:
    rows = []
    for persons in plan.sizes:
        rows.append(_one_size(root / f"registry-{persons}", persons, plan, today, say))
        gc.collect()
    first, last = rows[0]["decision_core"]["p50_us"], rows[-1]["decision_core"]["p50_us"]
    return {
        "designations": plan.designations,
        "sizes": rows,
        "p50_growth": round(last / first, 3) if first else None,
        "build": "generated, then Workspace.bulk_load: `clearance-gateway db init` and INSERTs into the "
                 "gateway's tables (no `registry import`); snapshot read with gateway.registry.loading.load_snapshot",
    }


def _one_size(directory: Path, persons: int, plan: SizePlan, today: date, say: Say) -> dict[str, Any]:
    directory.mkdir(parents=True)
    started = time.perf_counter()
    bundle = generate_bundle(Shape.for_persons(persons, plan.designations), today, plan.seed)
    generated = time.perf_counter() - started
    counts = {name: len(entries) for name, entries in bundle.items()}
    counts["contract_designations"] = sum(len(k["designation_ids"]) for k in bundle["contracts"])
    workspace = Workspace.create(directory)
    build = workspace.bulk_load(bundle)
    candidates = prepare_cases(bundle, plan.cases, plan.seed)
    del bundle
    gc.collect()
    pid = os.getpid()
    before = status_kib(pid, "VmRSS")
    with peak_rss(pid) as loading:
        started = time.perf_counter()
        snapshot = workspace.snapshot()
        load_seconds = time.perf_counter() - started
    after = status_kib(pid, "VmRSS")
    say(f"   {persons:,} persons, {plan.designations:,} designations: generated in {generated:.1f} s, "
        f"database written in {build:.1f} s, snapshot read in {load_seconds:.1f} s")
    policy = load_policy(POLICY_DIR)
    prepared = prepare(candidates, snapshot, policy, today)
    with peak_rss(pid) as deciding:
        timed = bench_core(prepared, snapshot, policy, today, seconds=plan.seconds, max_calls=plan.max_calls)
    allowed = sum(prepared.expected)
    return {
        "persons": persons,
        "registry": counts,
        "generate_seconds": round(generated, 2),
        "database_build_seconds": round(build, 2),
        "snapshot_load_seconds": round(load_seconds, 2),
        "snapshot_rss_growth_mib": mib(after - before) if before is not None and after is not None else None,
        "snapshot_load_peak_rss_mib": loading.as_dict()["peak_rss_mib"],
        "cases": {"decided": len(prepared.cases), "allowed": allowed, "failures": len(prepared.failures)},
        "decision_core": {**timed.summary.as_dict(), **deciding.as_dict()},
    }
