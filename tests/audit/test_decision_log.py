"""R1: every decision is durably logged before it is answered; no log, no decision (503)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from gateway.audit.chain import append, verify
from gateway.audit.decision_sink import DecisionSink
from gateway.audit.group_commit import GroupCommitter
from gateway.audit.record import DecisionEntry
from gateway.ports import LogOverloaded
from models import DecisionRecord
from tests.rules_registry import rules_bundle
from tests.support import Gateway

T0 = "2026-06-01T12:00:00+09:00"
EVAL = {
    "subject": {"type": "person", "id": "C-OK"},
    "resource": {"type": "document", "id": "D-ESI"},
    "action": {"name": "read"},
}


def _logged(gw: Gateway) -> list[dict]:  # type: ignore[type-arg]
    with gw.container.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(DecisionRecord.__table__).order_by(DecisionRecord.seq))]


def test_a_decision_is_logged_with_the_facts_it_rested_on(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    gateway.clock.set("2026-06-01T03:00:00+00:00")
    response = gateway.client.post(
        "/access/v1/evaluation",
        json=EVAL,
        headers={**gateway.keys.auth("authz:evaluate", sub="dms-1"), "X-Request-ID": "req-42"},
    )
    answer = response.json()
    [row] = _logged(gateway)
    assert row["decision_id"] == answer["context"]["decision_id"]
    assert row["allowed"] is True and answer["decision"] is True
    assert (row["caller_sub"], row["caller_client"], row["request_id"]) == ("dms-1", "test-client", "req-42")
    assert (row["person_id"], row["document_id"], row["action"], row["channel"]) == ("C-OK", "D-ESI", "read", "authzen")
    assert row["policy_version"] == answer["context"]["policy_version"].strip() and row["policy_version"].startswith(
        "sha256:"
    )
    assert row["facts"] == {
        "designation": "G-ESI",
        "clearance": "A-C-OK",
        "certification": "CERT-ACME",
        "contract": "K-ACME",
        "roster": "G-ESI/C-OK",
        "registry_version": row["facts"]["registry_version"],
    }
    assert row["facts"]["registry_version"] > 0  # one consistent snapshot, and which
    assert row["simulation"] is False and row["latency_us"] >= 0
    assert row["evaluated_at"].isoformat() == "2026-06-01T03:00:00+00:00"


def test_a_denial_is_logged_with_every_reason_and_no_assessment_content(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    answer = gateway.evaluate("C-BETA", "D-ESI", at=T0)
    [row] = _logged(gateway)
    assert row["allowed"] is False and row["simulation"] is True
    assert row["reason_codes"] == "employer_not_certified contract_not_in_force"
    assert row["reasons"] == answer["context"]["reasons"]
    # C9: the log names the clearance used, never its content
    assert row["facts"]["clearance"] == "A-C-BETA"
    flat = str(row["facts"])
    assert "favourable" not in flat and "2025-06-01" not in flat


def test_when_the_log_cannot_be_written_no_decision_is_given(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    with gateway.container.engine.begin() as conn:
        conn.execute(text("ALTER TABLE decisions RENAME TO decisions_unavailable"))
    response = gateway.client.post("/access/v1/evaluation", json=EVAL, headers=gateway.keys.auth("authz:evaluate"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "decision" not in response.json()
    assert "no decision" in response.json()["detail"]
    assert "Retry-After" in response.headers
    batch = gateway.client.post(
        "/access/v1/evaluations", json={"evaluations": [EVAL, EVAL]}, headers=gateway.keys.auth("authz:evaluate")
    )
    assert batch.status_code == 503 and "evaluations" not in batch.json()
    with gateway.container.engine.begin() as conn:
        conn.execute(text("ALTER TABLE decisions_unavailable RENAME TO decisions"))
    assert (
        gateway.client.post("/access/v1/evaluation", json=EVAL, headers=gateway.keys.auth("authz:evaluate")).status_code
        == 200
    )


def test_registry_changes_take_effect_for_the_next_decision(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    assert gateway.evaluate("P-OK", "D-ESI", at=T0)["decision"] is True
    gateway.import_bundle(
        {"rosters": [{"designation_id": "G-ESI", "person_id": "P-OK", "from": "2025-06-01", "until": "2026-05-31"}]}
    )
    assert gateway.codes("P-OK", "D-ESI", at=T0) == ["not_on_roster"]


# --- issue 13: the write path, and a writer that falls behind ---------------------------------------


def _entry(decision_id: str, at: datetime) -> DecisionEntry:
    return DecisionEntry.of(
        decision_id=decision_id, logged_at=at, evaluated_at=at - timedelta(days=1), caller_sub="dms\x00-1",
        caller_client=None, request_id="req-1", channel="authzen", person_id="P-" + "x" * 300, document_id="D-E",
        action="read", allowed=False, reasons=[{"code": "not_on_roster", "message": "not on the roster"}],
        policy_version="sha256:p", facts={"roster": None, "designation": "G-E", "registry_version": 3},
        inputs={"person": ["P-1", "employee"], "assessments": []}, simulation=True, latency_us=42,
    )  # fmt: skip


def test_the_log_writer_stores_each_record_as_the_sqlalchemy_path_did_and_the_chain_verifies(
    gateway: Gateway,
) -> None:
    """R1, R2: the raw write path keeps every column's value, the masking, and the hash chain."""
    engine = gateway.container.engine
    at = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    sink = DecisionSink(engine, gateway.container.signer)
    try:
        sink.append([_entry("FAST-1", at)])
    finally:
        sink.close()
    with engine.begin() as conn:
        append(conn, "decisions", [_entry("CORE-1", at).as_row()])
    fast, core = _logged(gateway)
    assert fast["decision_id"] == "FAST-1" and core["decision_id"] == "CORE-1"
    same = {"seq", "decision_id", "chain_index", "prev_hash", "hash"}
    assert {k: v for k, v in fast.items() if k not in same} == {k: v for k, v in core.items() if k not in same}
    assert fast["caller_sub"] == "dms\\x00-1" and fast["person_id"].endswith("…(truncated)")
    assert len(fast["person_id"]) == 256 and fast["logged_at"] == at and fast["inputs"]["person"] == ["P-1", "employee"]
    assert core["prev_hash"] == fast["hash"]
    with engine.connect() as conn:  # the audit window compares stored instants: the same text either way
        window = conn.execute(
            select(DecisionRecord.decision_id).where(DecisionRecord.logged_at >= at)  # type: ignore[arg-type]
        ).scalars()
        assert sorted(window) == ["CORE-1", "FAST-1"]
    assert verify(engine, gateway.container.signer.public_key).ok


def test_a_writer_that_falls_behind_shows_it_and_refuses_new_decisions_until_it_catches_up() -> None:
    gate = threading.Event()
    committed: list[DecisionEntry] = []

    class SlowSink:
        def append(self, entries: Sequence[DecisionEntry]) -> None:
            gate.wait(5)
            committed.extend(entries)

        def close(self) -> None:
            pass

    writer = GroupCommitter(SlowSink(), max_wait=0.1)
    entry = _entry("E-1", datetime(2026, 6, 1, tzinfo=UTC))

    async def scenario() -> None:
        first = asyncio.create_task(writer.append([entry]))
        await asyncio.sleep(0.3)
        stats = writer.stats()
        assert stats.queued_rows == 1 and stats.oldest_wait_seconds >= 0.25
        with pytest.raises(LogOverloaded):
            await writer.append([entry])
        gate.set()
        await first  # answered only now: after its commit
        assert writer.stats().queued_rows == 0 and writer.stats().oldest_wait_seconds == 0
        await writer.append([entry])  # caught up: taken again

    asyncio.run(scenario())
    writer.close()
    assert committed == [entry, entry]  # the refused one was never queued


def test_past_the_configured_wait_a_decision_is_refused_with_503_and_retry_after(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.import_bundle(rules_bundle())
    log = gateway.container.decisions.log
    monkeypatch.setattr(log, "max_wait", 3.0)
    monkeypatch.setattr(log, "oldest_wait", lambda: 4.5)
    response = gateway.client.post("/access/v1/evaluation", json=EVAL, headers=gateway.keys.auth("authz:evaluate"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert response.headers["content-type"] == "application/problem+json"
    assert "behind" in response.json()["detail"] and "decision" not in response.json()
    assert _logged(gateway) == []
    assert "decision_log_backlog" in gateway.client.get("/metrics").text
