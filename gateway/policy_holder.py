"""Holds the running policy; a reload checks the new files first and swaps the whole policy."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from gateway.decision.policy import Policy, PolicyError, load_policy

log = structlog.get_logger("gateway.policy")


class PolicyHolder:
    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()
        self.current: Policy = load_policy(directory)  # no policy, no start: fail closed
        log.info("policy.loaded", version=self.current.version)

    def reload(self) -> tuple[Policy, bool]:
        """(the running policy, whether it changed). PolicyError leaves the running policy in place."""
        with self._lock:
            try:
                candidate = load_policy(self.directory)
            except PolicyError as exc:
                log.warning("policy.refused", problems=[str(p) for p in exc.problems], running=self.current.version)
                raise
            changed = candidate.version != self.current.version
            if changed:
                self.current = candidate
                log.info("policy.swapped", version=candidate.version)
            return self.current, changed
