"""The audit API's boundaries: never a decision's raw inputs nor an assessment's content (C9); auditors read
the logs and change nothing, administrators change the registry and read no log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from models import ChangeEvent, DecisionRecord
from tests.audit.scenario import AUDIT, NOTIFIED, NOTIFIED_MOD, Audited
from tests.support import Gateway, assert_problem

# --- C9: never the inputs, never an assessment's content -----------------------------------------


def _bodies(audited: Audited) -> dict[str, str]:
    items = audited.get("/decisions", limit=500).json()["items"]
    bodies = {"list": audited.get("/decisions", limit=500).text}
    bodies |= {f"one {i['decision_id']}": audited.get(f"/decisions/{i['decision_id']}").text for i in items}
    bodies |= {f"export {f}": audited.get("/export", format=f).text for f in ("csv", "jsonl")}
    bodies["changes"] = audited.get("/changes", limit=500).text
    bodies["report"] = audited.get("/reports/annual", year=2019).text
    return bodies


def test_no_audit_answer_carries_raw_inputs_or_assessment_content(audited: Audited) -> None:
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    with audited.gw.container.engine.connect() as conn:
        logged_inputs = [r for (r,) in conn.execute(select(table.c.inputs)) if r]
    assert NOTIFIED in json.dumps(logged_inputs)  # the log holds them (for replay by administrators) ...
    for name, body in _bodies(audited).items():  # ... and no auditor ever sees them
        assert "inputs" not in body, name
        assert NOTIFIED not in body and NOTIFIED_MOD not in body, name


def test_the_change_log_withholds_assessment_content(audited: Audited) -> None:
    items = audited.get("/changes", limit=500).json()["items"]
    assessments = [i for i in items if i["entity"] == "assessment"]
    assert {i["entity_id"] for i in assessments} == {"A-A", "A-B", "A-X", "A-M"}
    for item in assessments:
        assert item["before"] is None and item["after"] is None and item["withheld"] is True
        assert {"result", "notified_on", "status"} <= set(item["fields_changed"])
    designation = next(i for i in items if i["entity"] == "designation" and i["entity_id"] == "G-E")
    assert designation["after"]["expires_on"] == "2029-03-31"  # other records are shown in full (R4)


# --- scopes: auditors read, administrators change; neither does the other's work -----------------

EVALUATION = {
    "subject": {"type": "person", "id": "P-A"},
    "resource": {"type": "document", "id": "D-E"},
    "action": {"name": "read"},
}
AUDIT_ROUTES = [
    "/v1/audit/decisions",
    "/v1/audit/decisions/01ZZZZZZZZZZZZZZZZZZZZZZZZ",
    "/v1/audit/export?format=jsonl",
    "/v1/audit/changes",
    "/v1/audit/reports/annual?year=2026",
]
ADMIN_ROUTES = [
    ("POST", "/v1/admin/registry/import", {"organs": []}),
    ("POST", "/v1/admin/policy/reload", None),
    ("GET", "/v1/admin/policy", None),
    ("POST", "/v1/admin/assessments/A-A/suspend", None),
    ("POST", "/v1/admin/certifications/CERT-1/revoke", None),
    ("POST", "/v1/admin/designations/G-E/extend", {"expires_on": "2030-03-31", "cabinet_approval_ref": None}),
    ("POST", "/v1/admin/designations/G-E/cancel", {"cancelled_on": "2026-07-01"}),
    ("PUT", "/v1/admin/rosters/G-E/P-B", {"from": "2026-06-01", "until": None}),
    ("DELETE", "/v1/admin/rosters/G-E/P-A", None),
    ("POST", "/access/v1/evaluation", EVALUATION),
]


@pytest.mark.parametrize(
    "scope", ["registry:admin", "policy:admin", "authz:evaluate", "authz:simulate", "documents:read"]
)
@pytest.mark.parametrize("path", AUDIT_ROUTES)
def test_only_auditors_read_the_logs(audited: Audited, scope: str, path: str) -> None:
    client, keys = audited.gw.client, audited.gw.keys
    assert_problem(client.get(path, headers=keys.auth(scope)), 403)
    assert_problem(client.get(path), 401)
    assert client.get(path, headers=keys.auth(scope, AUDIT)).status_code in (200, 404)  # both scopes: both rights


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_auditors_cannot_change_anything(audited: Audited, method: str, path: str, body: Any) -> None:
    before = _counts(audited.gw)
    response = audited.gw.client.request(method, path, json=body, headers=audited.gw.keys.auth(AUDIT))
    assert_problem(response, 403)
    assert _counts(audited.gw) == before


def _counts(gw: Gateway) -> tuple[int, int]:
    with gw.container.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one(),  # type: ignore[arg-type]
            conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one(),  # type: ignore[arg-type]
        )
