"""Replicas that agree within a second (issue #6): from the admin call's answer on one replica to the
first deny on another, measured between two real `serve` processes on one PostgreSQL.

Each trial suspends P-0001's clearance through replica 1, then asks replica 2 about P-0001 and
DOC-0001 as fast as it answers until the answer is a deny; then reinstates through replica 1 and
waits for the allow on replica 2 the same way. The figures are printed for the README.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.production.replicas import deployed
from tests.support import Keys, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
TRIALS = int(os.environ.get("GATEWAY_PROPAGATION_TRIALS", "40"))
QUESTION = {
    "subject": {"type": "person", "id": "P-0001"},
    "resource": {"type": "document", "id": "DOC-0001"},
    "action": {"name": "read"},
}


def seconds_until(client: httpx.Client, token: dict[str, str], allowed: bool, within: float = 5.0) -> float:
    started = time.perf_counter()
    while True:
        answer = client.post("/access/v1/evaluation", json=QUESTION, headers=token)
        assert answer.status_code == 200, answer.text
        if answer.json()["decision"] is allowed:
            return time.perf_counter() - started
        if time.perf_counter() - started > within:
            pytest.fail(f"replica 2 still answers {not allowed} after {within} s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def test_a_suspension_through_one_replica_reaches_the_other_within_a_second_at_p99(
    tmp_path: Path, keys: Keys, big_document: bytes
) -> None:
    with (
        fresh_database("postgresql", tmp_path) as url,
        deployed(url, tmp_path / "deployment", keys, big_document, "replica-1", "replica-2") as (fleet, admin),
    ):
        second = httpx.Client(base_url=fleet.replicas[1].url, timeout=30)
        evaluate = keys.auth("authz:evaluate", lifetime=3600)
        manage = keys.auth("registry:admin", lifetime=3600)
        assert seconds_until(second, evaluate, allowed=True) < 5
        to_deny, to_allow = [], []
        for _ in range(TRIALS):
            changed = admin.client.post("/v1/admin/assessments/A-0001/suspend", headers=manage)
            assert changed.status_code == 200, changed.text
            to_deny.append(seconds_until(second, evaluate, allowed=False))
            changed = admin.client.post("/v1/admin/assessments/A-0001/reinstate", headers=manage)
            assert changed.status_code == 200, changed.text
            to_allow.append(seconds_until(second, evaluate, allowed=True))
        second.close()
    ms = [1000 * s for s in to_deny]
    print(
        f"\npropagation over {TRIALS} suspensions, admin answer on replica 1 -> first deny on replica 2: "
        f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms, "
        f"mean {statistics.fmean(ms):.1f} ms; reinstatement p50 {1000 * percentile(to_allow, 0.5):.1f} ms"
    )
    assert percentile(to_deny, 0.99) < 1.0
    assert percentile(to_allow, 0.99) < 1.0
