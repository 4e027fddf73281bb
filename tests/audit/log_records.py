"""For the log writer's tests: a realistic decision record, changed where a test needs it, and a sink that
commits into a list."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway.audit.record import DecisionEntry


def entry(decision_id: str, at: datetime, **changes: object) -> DecisionEntry:
    return DecisionEntry.of(
        decision_id=decision_id, logged_at=at, evaluated_at=at - timedelta(days=1), caller_sub="dms-1",
        caller_client=None, request_id="req-1", channel="authzen", person_id="P-1", document_id="D-E",
        action="read", allowed=False, reasons=[{"code": "not_on_roster", "message": "not on the roster"}],
        policy_version="sha256:p", facts={"roster": None, "designation": "G-E", "registry_version": 3},
        inputs={"person": ["P-1", "employee"], "assessments": []}, simulation=True, latency_us=42,
    )._replace(**changes)  # fmt: skip


class Sink:
    """Commits into a list, after `delay` seconds, or fails."""

    def __init__(self, *, delay: float = 0.0, fail: bool = False):
        self.delay, self.fail = delay, fail
        self.committed: list[DecisionEntry] = []
        self.groups: list[int] = []

    def append(self, entries: Sequence[DecisionEntry]) -> None:
        time.sleep(self.delay)
        if self.fail:
            raise OSError("disk full")
        self.committed.extend(entries)
        self.groups.append(len(entries))

    def close(self) -> None:
        pass
