"""Issue #6, load: two replicas on one PostgreSQL under mixed load log every decision they answer.

Two real `clearance-gateway serve` processes share a fresh PostgreSQL database. Client threads send
evaluations, batches and releases to both for GATEWAY_TEST_LOAD_SECONDS (default 60; CI runs 60).
Afterwards the decision log holds exactly the decisions that were answered — the same ids, allows
and denies — and its hash chain and signed checkpoints verify.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.production.checks import decision_rows, misbehaviour, problems_text, unlogged
from tests.production.load import Load, summary
from tests.production.replicas import deployed
from tests.support import Keys, fresh_database

LOAD_SECONDS = float(os.environ.get("GATEWAY_TEST_LOAD_SECONDS", "60"))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_log_exactly_the_decisions_they_answer(
    tmp_path: Path, keys: Keys, big_document: bytes, contents: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        fresh_database("postgresql", tmp_path) as url,
        deployed(url, tmp_path / "deployment", keys, big_document, "replica-a", "replica-b") as (fleet, admin),
    ):
        with Load(fleet.replicas, keys, contents) as load:
            load.run_for(LOAD_SECONDS)
        rows = decision_rows(url)
        verified = admin.verify()
    answers, seconds = load.answers, load.stopped - load.started
    with capsys.disabled():
        print("\n" + summary(answers, seconds, len(rows), title="two replicas on PostgreSQL"))
        print(f"   audit verify: ok={verified['ok']} checked={verified['checked']} chains={verified['chains']}")

    assert seconds >= LOAD_SECONDS
    wrong = misbehaviour(answers, refusals=())  # not even a 503: nothing failed
    assert not wrong, problems_text(wrong)
    unanswered = [a for a in answers if a.status is None or a.status == 503 or a.error]
    assert not unanswered, f"a healthy deployment left {len(unanswered)} requests without an answer: {unanswered[:3]}"
    for replica in fleet.replicas:
        assert any(a.replica == replica.name for a in answers), f"{replica.name} answered nothing"
    for kind in ("evaluation", "batch", "release"):
        assert any(a.kind == kind for a in answers), f"no {kind} was answered"

    allowed = {d for a in answers for d in a.allowed}
    denied = {d for a in answers for d in a.denied}
    assert len(rows) == len(allowed) + len(denied), "decision-log rows differ from the decisions answered"
    assert set(rows) == allowed | denied
    missing = unlogged(answers, rows)
    assert not missing, problems_text(missing)
    assert sum(r.allowed for r in rows.values()) == len(allowed)

    assert verified["ok"] is True, verified
    assert verified["chains"]["decisions"]["checked"] == len(rows)
    assert verified["chains"]["decisions"]["checkpoints"] == len(rows) // 1000  # every 1,000 entries
