"""`policy apply CANDIDATE`: swap a checked and tested candidate folder in for the live policy folder.

The swap is one atomic directory exchange (Linux renameat2 with RENAME_EXCHANGE): a watcher polling
the live folder sees the old files or the new ones, never a mix. The previous policy is kept beside
the live one as `<name>.previous` (apply it to roll back). Where the exchange is not available (another
OS, a folder that is a mount point), the folder is swapped by two renames, or file by file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.decision.policy import Policy, PolicyError, PolicyProblem
from gateway.policy.holder import load_tested
from gateway.policy.suites import suite_files

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def apply(candidate: Path, live: Path, zone: ZoneInfo) -> tuple[Policy, Path]:
    """(the applied policy, where the previous one now is). PolicyError if the candidate is refused."""
    candidate, live = candidate.resolve(), live.resolve()
    if candidate == live:
        raise PolicyError([PolicyProblem(str(candidate), 1, "the candidate is the live folder itself")])
    if not suite_files(candidate / "tests"):
        raise PolicyError([PolicyProblem("tests/", 1, "a candidate without policy tests is not applied")])
    policy = load_tested(candidate, zone)  # check and test: the same gate a reload applies
    staging = live.with_name(f".{live.name}.incoming-{os.getpid()}")
    previous = live.with_name(f"{live.name}.previous")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(candidate, staging)
    if _exchange(staging, live):
        shutil.rmtree(previous, ignore_errors=True)
        staging.rename(previous)  # what was live
        return policy, previous
    shutil.rmtree(previous, ignore_errors=True)
    try:
        live.rename(previous)
        staging.rename(live)
    except OSError:  # a mount point cannot be renamed: replace its files instead
        with contextlib.suppress(FileNotFoundError):
            previous.rename(live)
        shutil.copytree(live, previous)
        _replace_files(staging, live)
        shutil.rmtree(staging, ignore_errors=True)
    return policy, previous


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(done == 0)


def _replace_files(source: Path, target: Path) -> None:
    """model.conf last: a watcher that reads a half-replaced folder refuses it, then takes the whole."""
    names = sorted(p.name for p in source.glob("*.csv")) + ["model.conf"]
    for stale in target.glob("*.csv"):
        if stale.name not in names:
            stale.unlink()
    tests = target / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    if (source / "tests").is_dir():
        shutil.copytree(source / "tests", tests)
    for name in names:
        os.replace(source / name, target / name)
