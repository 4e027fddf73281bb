"""The README's five-minute tour, as a new user follows it: from a fresh clone, every command, every output.

The repository is cloned (its committed state) into a temporary folder; `python3 tasks.py demo` starts
there on a free port, and each `sh` block of the tour then runs in bash with the `export` lines the demo
printed, its answer compared with the block shown after it. In a shown output, `…` stands for anything,
and days and decision ids match any day and any id (the demo is dated from today). The clone shares this
checkout's installed dependencies (.venv) but runs its own code, policy and tasks.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import IN_CI, REPO, free_port

pytestmark = pytest.mark.slow
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
WILDCARDS = re.compile(r"(…|\d{4}-\d{2}-\d{2}|\b[0-9A-HJKMNP-TV-Z]{26}\b)")


@dataclass
class Block:
    language: str
    text: str


def tour(readme: str) -> list[Block]:
    start = readme.index("## A five-minute tour")
    end = readme.index("\n## ", start + 1)
    return [Block(language, text) for language, text in BLOCK.findall(readme[start:end])]


def pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for part in WILDCARDS.split(expected):
        if part == "…":
            parts.append(".*")
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", part):
            parts.append(r"\d{4}-\d{2}-\d{2}")
        elif re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", part):
            parts.append(r"[0-9A-HJKMNP-TV-Z]{26}")
        else:
            parts.append(re.escape(part))
    return re.compile("".join(parts))


def assert_matches(expected: Any, actual: Any, where: str = "$") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(expected) == list(actual), f"{where}: {actual!r}"
        for key in expected:
            assert_matches(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, f"{where}[{i}]")
    elif isinstance(expected, str):
        assert isinstance(actual, str) and pattern(expected).fullmatch(actual), f"{where}: {actual!r} vs {expected!r}"
    else:
        assert expected == actual, f"{where}: {actual!r} vs {expected!r}"


def assert_lines_in_order(expected: str, actual: str) -> None:
    lines = iter(line.rstrip("\r") for line in actual.splitlines())
    for wanted in filter(None, expected.splitlines()):
        match = pattern(wanted)
        assert any(match.fullmatch(line) for line in lines), f"{wanted!r} not found in order in:\n{actual}"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    venv = REPO / ".venv"
    if not (venv / ".installed").exists():
        if IN_CI:
            pytest.fail("no .venv set up by tasks.py beside the tests")
        pytest.skip("the tour needs the .venv that tasks.py sets up")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=60)
    (target / ".venv").symlink_to(venv)
    return target


@pytest.fixture
def environment(clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PYTHON"))}
    return env | {"PYTHONPATH": str(clone), "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "100"}


@pytest.fixture
def demo(clone: Path, environment: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            ["python3", "tasks.py", "demo", "--port", str(port)], cwd=clone, env=environment,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the demo did not start:\n{output.read_text()}")
                time.sleep(0.2)
        yield port, output
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_readme_tour_from_a_fresh_clone(clone: Path, environment: dict[str, str], demo: tuple[int, Path]) -> None:
    port, output = demo
    blocks = tour((clone / "README.md").read_text(encoding="utf-8"))
    assert blocks[0] == Block("sh", "python3 tasks.py demo\n")
    printed = output.read_text(encoding="utf-8")
    assert blocks[1].language == "text"
    assert_lines_in_order(blocks[1].text, printed)

    exports = dict(re.findall(r"^export (T_\w+)=(\S+)", printed, re.M))
    assert set(exports) == {"T_EVAL", "T_SIM", "T_SEARCH", "T_READ", "T_ADMIN", "T_POLICY", "T_AUDIT"}
    env = environment | exports
    ran = 0
    for i, block in enumerate(blocks[2:], start=2):
        if block.language != "sh":
            continue
        command = block.text.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        shown = blocks[i + 1]
        if shown.language == "json":
            assert_matches(json.loads(shown.text), json.loads(done.stdout))
        else:
            assert_lines_in_order(shown.text, done.stdout)
        ran += 1
    assert ran == 5
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=10) as page:  # noqa: S310
        assert "/docs/assets/swagger-ui-bundle.js" in page.read().decode()
