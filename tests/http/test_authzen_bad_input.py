"""The AuthZEN API refuses bad input with an RFC 9457 problem naming each bad field, and logs nothing it
refused; through the real ASGI app, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.http.authzen_calls import EVALUATION, EVALUATIONS, ask, codes, logged, post
from tests.support import Gateway, assert_problem

# --- bad input --------------------------------------------------------------------------------------------

BAD_INPUT = [
    # name, the body (bytes are sent as they are), the pointers the problem must name
    ("malformed JSON", b'{"subject": {"type": "person", ', [""]),
    ("trailing garbage", b'{"subject": {}} x', [""]),
    ("empty body", b"", [""]),
    ("a JSON array", b"[]", [""]),
    ("a JSON array of requests", json.dumps([ask()]).encode(), [""]),
    ("a JSON string", b'"read D-ESI"', [""]),
    ("a JSON number", b"42", [""]),
    ("subject.id a number", {**ask(), "subject": {"type": "person", "id": 1}}, ["/subject/id"]),
    ("subject.id null", {**ask(), "subject": {"type": "person", "id": None}}, ["/subject/id"]),
    ("subject.id empty", ask(person=""), ["/subject/id"]),
    ("subject a string", {**ask(), "subject": "P-OK"}, ["/subject"]),
    ("subject type missing", {**ask(), "subject": {"id": "P-OK"}}, ["/subject/type"]),
    ("action missing", {k: v for k, v in ask().items() if k != "action"}, ["/action"]),
    ("action.name missing", {**ask(), "action": {}}, ["/action/name"]),
    ("action.name a list", {**ask(), "action": {"name": ["read"]}}, ["/action/name"]),
    ("resource missing", {k: v for k, v in ask().items() if k != "resource"}, ["/resource"]),
    ("several fields at once", {**ask(), "subject": {"type": "person"}, "resource": {"id": "D-ESI"}},
     ["/subject/id", "/resource/type"]),
    ("a type outside the type alphabet", {**ask(), "subject": {"type": "User Account", "id": "alice"}},
     ["/subject/type"]),  # another type in the alphabet is a deny, not a 400 (tests/http/test_authzen_strict.py)
    ("context not an object", ask(context="2030-01-01T09:00:00+09:00"), ["/context"]),
    ("context.time not ISO 8601", ask(context={"time": "next Tuesday"}), ["/context/time"]),
    ("context.time without offset", ask(context={"time": "2030-01-01T09:00:00"}), ["/context/time"]),
    ("context.time a date", ask(context={"time": "2030-01-01"}), ["/context/time"]),
    ("context.time a number", ask(context={"time": 1893456000}), ["/context/time"]),
    ("a 257-character subject id", ask(person="P" * 257), ["/subject/id"]),
    ("a 257-character resource id", ask(document="D" * 257), ["/resource/id"]),
    ("a lone surrogate", b'{"subject": {"type": "person", "id": "\\ud800"}}', [""]),
]


@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
@pytest.mark.parametrize(("body", "pointers"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_a_clean_400_problem_naming_the_field(gateway: Gateway, path: str, body: Any,
                                                          pointers: list[str]) -> None:
    before = logged(gateway)
    scopes = ("authz:evaluate", "authz:simulate")  # so that context.time is refused for its form only
    if isinstance(body, bytes):
        response = post(gateway, path, None, *scopes, content=body)
    else:
        response = post(gateway, path, body, *scopes)
    problem = assert_problem(response, 400, *pointers)
    assert all({"pointer", "detail"} <= set(e) for e in problem["errors"])
    assert logged(gateway) == before


ODD_IDS = [
    ("unicode", "佐藤花子-Ωmega-🙂"),
    ("combining marks", "P-OK\u0301"),
    ("double quotes", 'P-"OK"'),
    ("single quotes", "P-O'Brien"),
    ("sql injection", "'; DROP TABLE decisions;--"),
    ("sql injection, doubled", "x' OR '1'='1"),
    ("path traversal", "../../etc/passwd"),
    ("url-ish", "D-ESI?x=1#frag%2e%2e"),
    ("markup", "<script>alert(1)</script>"),
    ("whitespace", "  P-OK\t\n"),
    ("control characters", "P-OK\u0000\u001b[31m\r"),  # NUL: PostgreSQL cannot store it as is
    ("backslashes", "C:\\Windows\\System32"),
    ("256 characters", "X" * 256),
    ("256 wide characters", "漢" * 256),
]


@pytest.mark.parametrize("role", ["subject", "resource"])
@pytest.mark.parametrize("odd", [c[1] for c in ODD_IDS], ids=[c[0] for c in ODD_IDS])
def test_ids_outside_the_id_alphabet_are_a_400_naming_the_field_and_nothing_is_logged(
    gw: Gateway, role: str, odd: str
) -> None:
    """Issue 12, findings 2 and 11: an id that breaks the id rules is refused before deciding."""
    before = logged(gw)
    body = ask(person=odd) if role == "subject" else ask(document=odd)
    assert_problem(post(gw, EVALUATION, body), 400, f"/{role}/id")
    assert logged(gw) == before
    assert post(gw, EVALUATION, ask()).json()["decision"] is True  # and the gateway carries on


@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
def test_an_oversized_body_is_413(gateway: Gateway, path: str, streamed: bool) -> None:
    limit = gateway.settings.max_body_bytes
    raw = json.dumps(ask(context={"padding": "x" * limit})).encode()
    assert len(raw) > limit
    before = logged(gateway)
    response = post(gateway, path, None, content=iter([raw]) if streamed else raw)
    assert_problem(response, 413)
    assert logged(gateway) == before


@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
def test_unknown_fields_are_ignored(gw: Gateway, path: str) -> None:
    body = {
        "subject": {"type": "person", "id": "P-OK", "properties": {"department": "R&D"},
                    "email": "x@example.com"},
        "resource": {"type": "document", "id": "D-ESI", "etag": "W/1"},
        "action": {"name": "read", "properties": {"method": "GET"}, "future": [1, 2]},
        "context": {"ip_address": "172.217.22.14", "device": {"id": "8:65:ee:17:7e:0b"}},
        "extension": {"anything": True}, "version": 2,
    }
    response = post(gw, path, body)
    assert response.status_code == 200, response.text
    assert response.json()["decision"] is True
    batch = {**body, "evaluations": [{"resource": {"type": "document", "id": "D-SDS"}, "note": "ignored"}],
             "options": {"another_option": "value"}}
    response = post(gw, EVALUATIONS, batch)
    assert response.status_code == 200, response.text
    assert [codes(a) for a in response.json()["evaluations"]] == [["clearance_insufficient"]]


def test_a_wrong_method_is_a_problem_too(gateway: Gateway) -> None:
    response = gateway.client.get(EVALUATION, headers=gateway.keys.auth("authz:evaluate"))
    assert_problem(response, 405)
