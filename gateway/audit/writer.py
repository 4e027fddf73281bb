"""Writes decision records (R1) inside the caller's transaction; the commit makes them durable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.logs import RECORD_SCHEMA


def decision_row(
    *,
    decision_id: str,
    logged_at: datetime,
    evaluated_at: datetime,
    caller_sub: str,
    caller_client: str | None,
    request_id: str | None,
    channel: str,
    person_id: str,
    document_id: str,
    action: str,
    allowed: bool,
    reasons: list[dict[str, str]],
    policy_version: str,
    facts: dict[str, Any],
    inputs: dict[str, Any] | None,
    simulation: bool,
    latency_us: int,
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "schema_version": RECORD_SCHEMA,
        "logged_at": logged_at,
        "evaluated_at": evaluated_at,
        "caller_sub": caller_sub,
        "caller_client": caller_client,
        "request_id": request_id,
        "channel": channel,
        "person_id": person_id,
        "document_id": document_id,
        "action": action,
        "allowed": allowed,
        "reasons": reasons,
        "reason_codes": " ".join(r["code"] for r in reasons),
        "policy_version": policy_version,
        "facts": facts,
        "inputs": inputs,
        "simulation": simulation,
        "latency_us": latency_us,
    }
