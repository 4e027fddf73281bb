"""The auditors' API (api.md "Audit"): decisions (R1) filtered and paged, cursors, bad queries and one
decision; all under `audit:read` (the scenario: tests/audit/scenario.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.audit.scenario import AUDIT, FILTERS, ITEM_KEYS, Audited
from tests.support import assert_problem


def test_the_scenario_is_varied_enough_to_test_filters(audited: Audited) -> None:
    records = audited.records
    assert {r.allowed for r in records} == {True, False}
    assert {r.organ for r in records} == {"METI", "MOD", None}
    assert any(len(r.codes) > 1 for r in records) and any(r.simulation for r in records)


# --- list and filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[json.dumps(p) for p, _ in FILTERS])
def test_filters_one_by_one_and_combined(
    audited: Audited, params: dict[str, str], expected: Callable[..., bool]
) -> None:
    response = audited.get("/decisions", **params, limit=500)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert [i["decision_id"] for i in body["items"]] == [r.decision_id for r in audited.records if expected(r)]
    if params and "NOBODY" not in str(params) and params.get("organ") != "NPA":
        assert body["items"], "a filter case that matches nothing proves little"


def test_an_item_has_the_documented_shape(audited: Audited) -> None:
    [first_allowed] = [r for r in audited.records if r.person == "C-X" and r.document == "D-E2"]
    [item] = [
        i for i in audited.get("/decisions", limit=500).json()["items"] if i["decision_id"] == first_allowed.decision_id
    ]
    assert set(item) == ITEM_KEYS
    assert item["caller"] == {"sub": "dms-1", "client": "test-client"}
    assert (item["person"], item["document"], item["action"], item["decision"]) == ("C-X", "D-E2", "read", "allow")
    assert item["facts"] == {
        "designation": "G-E",
        "clearance": "A-X",
        "certification": "CERT-1",
        "contract": "K-1",
        "roster": "G-E/C-X",
        "registry_version": item["facts"]["registry_version"],
    }
    assert item["reasons"] == [] and item["simulation"] is False and item["channel"] == "authzen"
    assert datetime.fromisoformat(item["logged_at"]) == first_allowed.logged_at
    assert item["policy_version"].startswith("sha256:")


@pytest.mark.parametrize(
    ("limit", "params"), [(1, {}), (3, {}), (5, {}), (2, {"decision": "deny"}), (2, {"person": "P-A"})]
)
def test_paging_covers_every_item_once_in_order(audited: Audited, limit: int, params: dict[str, str]) -> None:
    everything = [i["decision_id"] for i in audited.get("/decisions", limit=500, **params).json()["items"]]
    pages, seen, cursor = 0, [], None
    while True:
        body = audited.get("/decisions", limit=limit, **params, **({"cursor": cursor} if cursor else {})).json()
        pages += 1
        assert len(body["items"]) <= limit
        seen += [i["decision_id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == limit
    assert seen == everything  # no duplicates, no gaps, newest first
    assert pages == -(-len(everything) // limit) > 1


def _b64(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


BAD_CURSORS = [
    "garbage",
    "",
    "!!!!",
    "e30",  # {}
    _b64([1, 2]),
    _b64({"l": "decisions", "s": "5", "q": "x"}),
    _b64({"l": "decisions", "s": -3, "q": "x"}),
    _b64({"l": "changes", "s": 3, "q": "x"}),
    "A" * 500,
    "ü",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_garbage_or_tampered_cursor_is_a_400_problem(audited: Audited, cursor: str) -> None:
    response = audited.get("/decisions", cursor=cursor)
    problem = assert_problem(response, 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/query/cursor"]


def test_a_cursor_continues_only_its_own_query(audited: Audited) -> None:
    cursor = audited.get("/decisions", limit=1, decision="deny").json()["next_cursor"]
    assert audited.get("/decisions", limit=1, decision="deny", cursor=cursor).status_code == 200
    assert_problem(audited.get("/decisions", limit=1, decision="allow", cursor=cursor), 400)
    assert_problem(audited.get("/changes", limit=1, cursor=cursor), 400)
    cursor = audited.get("/decisions", limit=1, since="2026-06-01T09:00:00+09:00").json()["next_cursor"]
    same_instant = audited.get("/decisions", limit=1, since="2026-06-01T00:00:00Z", cursor=cursor)
    assert same_instant.status_code == 200  # the same instant, however its offset is written
    changes_cursor = audited.get("/changes", limit=1).json()["next_cursor"]
    assert_problem(audited.get("/decisions", limit=1, cursor=changes_cursor), 400)


BAD_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({"since": "2026-06-01T00:00:00"}, "/query/since"),
    ({"until": "2026-06-01T00:00:00"}, "/query/until"),
    ({"since": "2026-06-01"}, "/query/since"),
    ({"since": "yesterday"}, "/query/since"),
    ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "/query/until"),
    ({"decision": "maybe"}, "/query/decision"),
    ({"reason": "no_such_code"}, "/query/reason"),
    ({"simulation": "perhaps"}, "/query/simulation"),
    ({"limit": 0}, "/query/limit"),
    ({"limit": 501}, "/query/limit"),
    ({"limit": "ten"}, "/query/limit"),
    ({"person": "P\x00A"}, "/query/person"),
    ({"organ": "\x00"}, "/query/organ"),
]


BAD_CASES = [(path, params, pointer) for path in ("/decisions", "/export") for params, pointer in BAD_QUERIES]
BAD_CASES = [case for case in BAD_CASES if not (case[0] == "/export" and "limit" in case[1])]  # no pages there


@pytest.mark.parametrize(
    ("path", "params", "pointer"), BAD_CASES, ids=[f"{c[0]} {json.dumps(c[1])}" for c in BAD_CASES]
)
def test_bad_query_parameters_are_400_problems_naming_the_field(
    audited: Audited, path: str, params: dict[str, Any], pointer: str
) -> None:
    problem = assert_problem(audited.get(path, **params), 400)
    assert pointer in [e["pointer"] for e in problem["errors"]]


def test_a_plus_sign_left_unescaped_in_the_url_is_read_as_the_offset(audited: Audited) -> None:
    escaped = audited.get("/decisions", since="2026-06-01T12:00:00+09:00").json()
    raw = audited.gw.client.get(
        "/v1/audit/decisions?since=2026-06-01T12:00:00+09:00", headers=audited.gw.keys.auth(AUDIT)
    )
    assert raw.status_code == 200 and raw.json() == escaped


# --- one decision --------------------------------------------------------------------------------


def test_one_decision_is_the_list_item(audited: Audited) -> None:
    items = audited.get("/decisions", limit=500).json()["items"]
    for item in items:
        response = audited.get(f"/decisions/{item['decision_id']}")
        assert response.status_code == 200 and response.json() == item


@pytest.mark.parametrize("decision_id", ["01ZZZZZZZZZZZZZZZZZZZZZZZZ", "nothing-here", "%00"])
def test_an_unknown_decision_is_a_404_problem(audited: Audited, decision_id: str) -> None:
    assert_problem(audited.get(f"/decisions/{decision_id}"), 404)
