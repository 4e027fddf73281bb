"""Every module of bench/ imports: a benchmark that cannot start is found by CI, not by the next person
who wants figures (bench/audit_queries.py once imported a function the API had moved)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

# bench.gateway_asgi builds the app from the GATEWAY_* environment the bench's server is started with.
ASGI_ENTRY_POINTS = {"bench.gateway_asgi"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(bench.__path__, "bench.") if m.name not in ASGI_ENTRY_POINTS)


def test_there_are_bench_modules() -> None:
    assert {"bench.runner", "bench.search", "bench.audit_queries"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(name)
