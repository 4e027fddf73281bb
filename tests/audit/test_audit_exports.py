"""Decision-log exports (CSV and JSON lines): they parse back to the list, stream in chunks, and no cell can
start a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.audit import query
from gateway.audit.chain import append
from gateway.audit.export import safe_cell
from gateway.audit.query import DecisionFilter, decision_chunks
from gateway.audit.record import decision_row
from tests.audit.scenario import AUDIT, NOTIFIED, Audited, audit_bundle, jst_at
from tests.support import Gateway, assert_problem

# --- exports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"person": "P-A"}, {"organ": "MOD", "decision": "deny"}, {"since": jst_at(4)}])
def test_exports_parse_back_and_match_the_list(audited: Audited, params: dict[str, str]) -> None:
    items = audited.get("/decisions", limit=500, **params).json()["items"]
    assert items

    jsonl = audited.get("/export", format="jsonl", **params)
    assert jsonl.status_code == 200 and jsonl.headers["content-type"] == "application/x-ndjson"
    assert jsonl.headers["content-disposition"].startswith("attachment; filename=decisions-")
    assert jsonl.headers["content-disposition"].endswith(".jsonl")
    assert [json.loads(line) for line in jsonl.text.splitlines()] == items

    exported = audited.get("/export", format="csv", **params)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith("attachment; filename=decisions-")
    assert exported.headers["content-disposition"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [_from_csv(row) for row in rows] == [_flat(item) for item in items]


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in item.items() if k not in ("caller", "reasons")},
        "caller_sub": item["caller"]["sub"],
        "caller_client": item["caller"]["client"],
        "reason_codes": " ".join(r["code"] for r in item["reasons"]),
        "reasons": item["reasons"],
    }


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    return {
        **row,
        "request_id": row["request_id"] or None,
        "caller_client": row["caller_client"] or None,
        "reasons": json.loads(row["reasons"]),
        "facts": json.loads(row["facts"]),
        "simulation": {"true": True, "false": False}[row["simulation"]],
        "latency_us": int(row["latency_us"]),
    }


def test_an_unknown_export_format_is_a_400_problem(audited: Audited) -> None:
    problem = assert_problem(audited.get("/export", format="xlsx"), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/query/format"]


def test_chunked_reading_covers_every_decision_once(audited: Audited) -> None:
    chunks = list(decision_chunks(audited.gw.container.engine, DecisionFilter(), chunk=5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    assert [i["decision_id"] for c in chunks for i in c] == [r.decision_id for r in audited.records]


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+81-3-1234", "'+81-3-1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("P-A", "P-A"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_that_start_a_formula_are_quoted(cell: str, shown: str) -> None:
    assert safe_cell(cell) == shown


def test_csv_injection_through_logged_values_is_escaped(gateway: Gateway) -> None:
    gateway.import_bundle(audit_bundle())
    # Ids cannot start a formula (the id alphabet), but a caller's name, an action and a request id can.
    body = {
        "subject": {"type": "person", "id": "P-A"},
        "resource": {"type": "document", "id": "D-E"},
        "action": {"name": '=HYPERLINK("http://evil.example","x")'},
    }
    auth = gateway.keys.auth("authz:evaluate", sub="+cmd|' /C calc'!A0")
    answered = gateway.client.post("/access/v1/evaluation", json=body, headers={**auth, "X-Request-ID": "-2+3"})
    assert answered.status_code == 200, answered.text
    response = gateway.client.get("/v1/audit/export", params={"format": "csv"}, headers=gateway.keys.auth(AUDIT))
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["action"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["caller_sub"] == "'+cmd|' /C calc'!A0"
    assert row["request_id"] == "'-2+3"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    jsonl = gateway.client.get("/v1/audit/export", params={"format": "jsonl"}, headers=gateway.keys.auth(AUDIT))
    assert json.loads(jsonl.text)["action"] == '=HYPERLINK("http://evil.example","x")'  # JSON keeps the value


@pytest.mark.slow
def test_a_large_export_streams_in_chunks(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 20_000
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        decision_row(
            decision_id=f"BULK{n:022d}",
            logged_at=now + timedelta(milliseconds=n),
            evaluated_at=now,
            caller_sub="bulk",
            caller_client=None,
            request_id=None,
            channel="authzen",
            person_id=f"P-{n % 97}",
            document_id="D-E",
            action="read",
            allowed=n % 3 == 0,
            reasons=[] if n % 3 == 0 else [{"code": "not_on_roster", "message": "not on the roster"}],
            policy_version="sha256:bulk",
            facts={"designation": "G-E", "registry_version": 1},
            inputs={"secret": NOTIFIED},
            simulation=False,
            latency_us=n,
        )
        for n in range(total)
    ]
    with gateway.container.engine.begin() as conn:
        append(conn, "decisions", rows)  # chained like any logged decision (R2)
    limits: list[int] = []
    chunked = query._decisions

    def spy(filters: DecisionFilter, below: int | None, limit: int, lowest: int | None = None) -> Any:
        limits.append(limit)
        return chunked(filters, below, limit, lowest)

    monkeypatch.setattr(query, "_decisions", spy)
    for fmt, header in (("jsonl", 0), ("csv", 1)):
        limits.clear()
        count, first, last = 0, "", ""
        with gateway.client.stream(
            "GET", "/v1/audit/export", params={"format": fmt}, headers=gateway.keys.auth(AUDIT)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():  # counted as they come; nothing kept but the first and last
                count += 1
                first = line if count == 1 + header else first
                last = line
        assert count == total + header
        assert f"BULK{total - 1:022d}" in first and f"BULK{0:022d}" in last  # newest first
        assert NOTIFIED not in first and "inputs" not in first
        assert limits == [query.EXPORT_CHUNK] * (total // query.EXPORT_CHUNK + 1)  # keyset chunks, never all at once
