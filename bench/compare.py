"""`python -m bench --compare OLD.json NEW.json`: two runs side by side, measurement by measurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.aims import aims
from bench.format import n, us

# measurement key, label, the field that says how fast (the first one present)
MEASUREMENTS = (
    ("decision_core", "1 decision core", ("per_second",)),
    ("pycasbin_naive", "2 PyCasbin naive enforce", ("per_second",)),
    ("cedar", "3 cedarpy is_authorized", ("per_second",)),
    ("cedar_batch", "4 cedarpy is_authorized_batch", ("decisions_per_second",)),
    ("http_evaluation", "5 HTTP evaluation", ("ok_per_second",)),
    ("http_evaluation_paced", "6 HTTP evaluation, open loop", ("ok_per_second",)),
    ("http_batch", "7 HTTP batch", ("decisions_per_second",)),
    ("fastapi_floor", "8 bare FastAPI floor", ("ok_per_second",)),
    ("document_release", "9 document release", ("ok_per_second",)),
    ("static_file", "10 static file", ("ok_per_second",)),
    ("http_evaluation_workers", "15 HTTP evaluation, --workers N", ("ok_per_second",)),
)


def _rate(m: dict[str, Any], fields: tuple[str, ...]) -> float | None:
    return next((float(m[f]) for f in fields if m.get(f) is not None), None)


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None or not old:
        return "-"
    return f"{new / old:.2f}×"


def _rows(results: dict[str, Any]) -> dict[str, tuple[float | None, float | None, float | None, float | None]]:
    """label -> (throughput, p50 µs, p99 µs, peak RSS MiB)."""
    m = results.get("measurements", {})
    out = {}
    for key, label, fields in MEASUREMENTS:
        row = m.get(key)
        if row:
            out[label] = (_rate(row, fields), row.get("p50_us"), row.get("p99_us"), row.get("peak_rss_mib"))
    sizes = m.get("registry_sizes") or {"sizes": []}
    for size in sizes["sizes"]:
        d = size["decision_core"]
        out[f"12 decision core, {size['persons']:,} persons"] = (d["per_second"], d["p50_us"], d["p99_us"],
                                                                 d.get("peak_rss_mib"))
    return out


def compare(old_path: Path, new_path: Path, console: Console) -> int:
    try:
        old, new = (json.loads(p.read_text(encoding="utf-8")) for p in (old_path, new_path))
    except (OSError, ValueError) as exc:
        console.print(f"cannot read the results: {exc}", style="bold red", markup=False)
        return 1
    table = Table(title=f"{old_path.name} ({old.get('started_at', '?')[:16]}, "
                  f"{old.get('source', {}).get('commit', '?')[:8]}) → {new_path.name} "
                  f"({new.get('started_at', '?')[:16]}, {new.get('source', {}).get('commit', '?')[:8]})")
    table.add_column("measurement")
    for column in ("throughput", "new/old", "p50", "new/old", "p99", "new/old", "peak RSS MiB"):
        table.add_column(column, justify="right")
    before, after = _rows(old), _rows(new)
    labels = [*before, *(k for k in after if k not in before)]
    for label in sorted(labels, key=lambda label: int(label.split()[0])):
        a, b = before.get(label, (None,) * 4), after.get(label, (None,) * 4)
        table.add_row(label, f"{n(a[0])} → {n(b[0])}", _change(a[0], b[0]), f"{us(a[1])} → {us(b[1])}",
                      _change(a[1], b[1]), f"{us(a[2])} → {us(b[2])}", _change(a[2], b[2]), f"{n(a[3])} → {n(b[3])}")
    console.print(table)
    aims = Table(title="Aims")
    for column in ("aim", "old", "new", "target", "met (new)"):
        aims.add_column(column)
    earlier = old.get("aims") or _aims_of(old)
    for key, aim in (new.get("aims") or _aims_of(new)).items():
        was = earlier.get(key, {}).get("value")
        met = {True: "[green]yes[/]", False: "[bold red]NO[/]", None: "-"}[aim["met"]]
        aims.add_row(aim["what"], _figure(was), _figure(aim["value"]), aim["aim"], met)
    console.print(aims)
    if old.get("config", {}).get("quick") != new.get("config", {}).get("quick"):
        console.print("[yellow]one of the runs is --quick, the other is not: durations and sizes differ[/]")
    return 0


def _aims_of(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The aims of a run written before they were recorded (schema 2), as far as its figures allow."""
    try:
        return aims(results)
    except (KeyError, TypeError):
        return {}


def _figure(value: float | None) -> str:
    return n(None if value is None else float(value), 0 if value is not None and abs(value) >= 1000 else 2)
