"""Holds the running policy; a reload checks the new files first and swaps the whole policy.

Each process also watches the policy folder: when the files' hash changes (an edit, a `git pull`,
or a reload asked of another worker), it reloads within `interval` seconds. An invalid policy is
refused and the last good one keeps serving; the same broken files are not retried until they change.
A policy whose own test suites (`tests/` beside its files) fail is refused the same way: untested
policy never serves.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from gateway.decision.policy import Policy, PolicyError
from gateway.metrics import POLICY_REFUSED
from gateway.policy.files import load_policy, policy_version

log = structlog.get_logger("gateway.policy")


_PASSED: set[tuple[str, str, str]] = set()  # (policy version, suites' digest, zone) that passed here


def load_tested(directory: Path, zone: ZoneInfo) -> Policy:
    """load_policy, then the policy's own suites: any failing case is a PolicyError naming it.
    Files that passed once in this process are not tested again (each worker starts in milliseconds)."""
    from gateway.policy.suites import gate, suites_digest  # the suites need the registry snapshot

    policy = load_policy(directory)
    passed = (policy.version, suites_digest(directory / "tests"), str(zone))
    if passed in _PASSED:
        return policy
    problems = gate(directory, policy, zone)
    if problems:
        raise PolicyError(problems)
    _PASSED.add(passed)
    return policy


class PolicyHolder:
    def __init__(self, directory: Path, zone: ZoneInfo = ZoneInfo("Asia/Tokyo")):
        self.directory = directory
        self.zone = zone
        self._lock = threading.Lock()
        self.current: Policy = load_tested(directory, zone)  # no (tested) policy, no start: fail closed
        self.refused: tuple[str, list[str]] | None = None  # (version, problems) of the last refused files
        self.on_swap: list[Callable[[Policy, Policy, str], None]] = []
        log.info("policy.loaded", version=self.current.version)

    def reload(self, actor: str = "policy-watch") -> tuple[Policy, bool]:
        """(the running policy, whether it changed). PolicyError leaves the running policy in place."""
        with self._lock:
            version = policy_version(self.directory)
            try:
                candidate = load_tested(self.directory, self.zone)
            except PolicyError as exc:
                self.refused = (version, [str(p) for p in exc.problems])
                cause = "tests" if all(p.file.startswith("tests/") for p in exc.problems) else "invalid"
                POLICY_REFUSED.labels(cause).inc()
                log.warning("policy.refused", cause=cause, problems=self.refused[1], running=self.current.version)
                raise
            self.refused = None
            previous = self.current
            changed = candidate.version != previous.version
            if changed:
                self.current = candidate
                log.info("policy.swapped", version=candidate.version, previous=previous.version)
        if changed:
            for callback in self.on_swap:
                callback(previous, candidate, actor)
        return self.current, changed

    def poll(self) -> None:
        """Reload if the files changed since the running (or the last refused) version."""
        version = policy_version(self.directory)
        if version == self.current.version or (self.refused and self.refused[0] == version):
            return
        with contextlib.suppress(PolicyError):  # logged by reload; the last good policy keeps serving
            self.reload()


class PolicyWatcher:
    """A daemon thread that polls the policy folder."""

    def __init__(self, holder: PolicyHolder, interval: float):
        self.holder = holder
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"policy-watch-{os.getpid()}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.holder.poll()
            except Exception as exc:  # a watcher must never die: the next poll tries again
                log.error("policy.watch_failed", error=str(exc))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
