"""R1: every decision is durably logged before it is answered; no log, no decision (503)."""

from __future__ import annotations

from sqlalchemy import select, text

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
