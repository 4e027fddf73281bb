"""AuthZEN 1.0 to the letter: the X-Request-ID comes back as it was sent, and a request body that a
reader could take two ways is refused rather than guessed at (duplicate keys; `evaluations` that is
not an array)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import orjson
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.api.deps import duplicate_keys
from gateway.app import RequestContext
from gateway.app import stored_request_id as escaped_id
from models import DecisionRecord
from tests.support import Gateway

EVALUATION, EVALUATIONS = "/access/v1/evaluation", "/access/v1/evaluations"
ASK = b'{"subject": {"type": "person", "id": "P-OK"}, "resource": {"type": "document", "id": "D-ESI"}, ' \
    b'"action": {"name": "read"}}'


def send(gw: Gateway, path: str, raw: bytes, **headers: Any) -> Any:
    auth = gw.keys.auth("authz:evaluate")
    return gw.client.post(path, content=raw, headers={**auth, "Content-Type": "application/json", **headers})


def stored_request_id(gw: Gateway, decision_id: str) -> str:
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:
        return conn.execute(select(table.c.request_id).where(table.c.decision_id == decision_id)).scalar_one()


# --- "Request Identification": an arbitrary string, returned unchanged ---------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (b"x" * 300, "x" * 182 + "~"),  # longer than the log keeps: clipped there only (a digest after ~)
        (b"trace\tone", "trace\\x09one"),  # a tab, escaped where it is kept
        (b"plain-id-1", "plain-id-1"),
    ],
)
def test_request_identification_is_echoed_and_kept_escaped(gw: Gateway, sent: bytes, stored: str) -> None:
    response = send(gw, EVALUATION, ASK, **{"X-Request-ID": sent})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"].encode("latin-1") == sent
    kept = stored_request_id(gw, response.json()["context"]["decision_id"])
    assert kept.startswith(stored) and len(kept) <= 200


def test_a_non_ascii_request_id_is_kept_as_escaped_bytes() -> None:
    assert escaped_id("要求-42".encode()) == "\\xe8\\xa6\\x81\\xe6\\xb1\\x82-42"
    assert escaped_id(b"a" * 300) != escaped_id(b"a" * 301)  # two long ids stay apart


@pytest.mark.parametrize("sent", ["要求-42".encode(), b"trace\tone", b"y" * 1000])
def test_request_identification_comes_back_on_the_wire_unchanged(sent: bytes) -> None:
    """Through a real HTTP server (the test client cannot carry non-ASCII headers): the bytes sent are
    the bytes answered."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(RequestContext(app, lambda path: 1024), host="127.0.0.1", port=port, lifespan="off",
                            log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: " + sent + b"\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
    finally:
        server.should_exit = True
        thread.join(10)
    assert b"\r\nx-request-id: " + sent + b"\r\n" in answer


def test_request_identification_is_echoed_on_a_refusal_too(gw: Gateway) -> None:
    response = send(gw, EVALUATION, b"{}", **{"X-Request-ID": "trace\tbad"})
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "trace\tbad"


# --- JSON read one way only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "pointer"),
    [
        (EVALUATION, ASK[:-1] + b', "subject": {"type": "person", "id": "P-NOROSTER"}}', "/subject"),
        (EVALUATION, ASK.replace(b'"id": "P-OK"', b'"id": "P-OK", "id": "P-NOROSTER"'), "/subject/id"),
        (EVALUATIONS, b'{"evaluations": [' + ASK.replace(b'"read"', b'"read", "name": "print"') + b"]}",
         "/evaluations/0/action/name"),
    ],
)
def test_a_key_named_twice_in_one_object_is_refused(gw: Gateway, path: str, raw: bytes, pointer: str) -> None:
    response = send(gw, path, raw)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert "appears more than once" in problem["errors"][0]["detail"]


@pytest.mark.parametrize(("value", "says"), [(b"{}", "an object"), (b"null", "null"), (b'"all"', "a string")])
def test_evaluations_that_is_not_an_array_is_refused_not_read_as_absent(gw: Gateway, value: bytes, says: str) -> None:
    response = send(gw, EVALUATIONS, ASK[:-1] + b', "evaluations": ' + value + b"}")
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["pointer"] == "/evaluations" and error["detail"] == f"expected an array, not {says}"


def test_an_absent_or_empty_evaluations_array_is_one_evaluation(gw: Gateway) -> None:
    for raw in (ASK, ASK[:-1] + b', "evaluations": []}'):
        response = send(gw, EVALUATIONS, raw)
        assert response.status_code == 200 and response.json()["decision"] is True, response.text


# --- "Errors": an evaluation that cannot be evaluated is answered in its own place -------------------------


def ask(person: str = "P-OK", document: str = "D-ESI", subject_type: str = "person", resource_type: str = "document",
        **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": subject_type, "id": person}, "resource": {"type": resource_type, "id": document},
            "action": {"name": "read"}, **extra}


def post_json(gw: Gateway, path: str, body: Any, *scopes: str) -> Any:
    return gw.client.post(path, json=body, headers=gw.keys.auth(*(scopes or ("authz:evaluate",))))


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (ask(subject_type="user", person="alice"), "subject_unknown", "The subject is a 'user'"),
        (ask(resource_type="todo", document="7"), "document_unknown", "The resource is a 'todo'"),
        (ask(subject_type="user", person="P-OK"), "subject_unknown", "persons only"),  # never the person P-OK
    ],
)
def test_an_entity_of_another_type_is_a_logged_deny_with_its_reason(
    gw: Gateway, body: dict[str, Any], code: str, says: str
) -> None:
    response = post_json(gw, EVALUATION, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decision"] is False
    reasons = {r["code"]: r["message"] for r in answer["context"]["reasons"]}
    assert says in reasons[code]
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.decision_id == answer["context"]["decision_id"])).one()
    assert row.allowed is False and "/" in (row.person_id + row.document_id)  # logged under type/id


def test_a_batch_answers_each_bad_item_in_its_place_and_decides_the_others(gw: Gateway) -> None:
    body = {
        "evaluations": [
            ask(),
            ask(person="bad id!"),  # malformed id
            ask(subject_type="user", person="alice"),  # another type: a decision, not an error
            ask(person="P-NOROSTER"),
        ]
    }
    response = post_json(gw, EVALUATIONS, body)
    assert response.status_code == 200, response.text
    answers = response.json()["evaluations"]
    assert [a["decision"] for a in answers] == [True, False, False, False]
    bad = answers[1]["context"]["error"]
    assert bad["status"] == 400 and [e["pointer"] for e in bad["errors"]] == ["/evaluations/1/subject/id"]
    assert "decision_id" not in answers[1]["context"]  # nothing was decided for it, nothing logged
    assert [r["code"] for r in answers[2]["context"]["reasons"]] == ["subject_unknown"]
    assert [r["code"] for r in answers[3]["context"]["reasons"]] == ["not_on_roster"]


@pytest.mark.parametrize(
    ("semantic", "decisions"),
    [
        ("execute_all", [False, True, False]),
        ("deny_on_first_deny", [False]),  # the error is the first denial: nothing after it is decided
        ("permit_on_first_permit", [False, True]),  # an error is no permit: the next item is decided
    ],
)
def test_an_item_error_counts_as_a_denial_in_the_semantics(gw: Gateway, semantic: str, decisions: list[bool]) -> None:
    body = {
        "evaluations": [ask(person="bad id!"), ask(), ask(person="P-NOROSTER")],
        "options": {"evaluations_semantic": semantic},
    }
    answers = post_json(gw, EVALUATIONS, body).json()["evaluations"]
    assert [a["decision"] for a in answers] == decisions
    assert "error" in answers[0]["context"]


def test_a_malformed_payload_as_a_whole_is_still_a_problem(gw: Gateway) -> None:
    response = post_json(gw, EVALUATIONS, {"evaluations": [ask(), 7]})
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/problem+json")


def test_an_item_missing_a_key_no_default_fills_is_an_item_error(gw: Gateway) -> None:
    body = {"subject": ask()["subject"], "action": {"name": "read"},
            "evaluations": [{"resource": ask()["resource"]}, {}, {"context": {"time": "tomorrow"}}]}
    answers = post_json(gw, EVALUATIONS, body, "authz:evaluate", "authz:simulate").json()["evaluations"]
    assert answers[0]["decision"] is True
    assert [e["pointer"] for e in answers[1]["context"]["error"]["errors"]] == ["/evaluations/1/resource"]
    assert "/evaluations/2/resource" in [e["pointer"] for e in answers[2]["context"]["error"]["errors"]]


# Any JSON text, with keys drawn from a small set so that objects often repeat one, and written with
# escapes (\u0061 is "a") and whitespace a parser accepts: the fast check (keys written against keys
# read) must find a repeat exactly when the standard library's parser, reading every pair, does.
_KEYS = st.sampled_from(["a", "b", "id", "é", 'q"uote', "back\\slash"])


def _text(value: Any) -> str:
    if isinstance(value, _Object):
        pairs = [f' {_key(k)} :\t{_text(v)}' for k, v in value.pairs]
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return json.dumps(value)


def _key(key: str) -> str:
    return json.dumps(key) if key != "a" else '"\\u0061"'


class _Object:
    def __init__(self, pairs: list[tuple[str, Any]]):
        self.pairs = pairs


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=6) | _KEYS,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_KEYS, inner), max_size=4).map(_Object),
    max_leaves=12,
)


def _reference_repeats(text: str) -> bool:
    found = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            found.append(items)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return bool(found)


@settings(max_examples=400, deadline=None)
@given(_JSON.filter(lambda v: isinstance(v, _Object)))
def test_the_fast_duplicate_check_agrees_with_reading_every_pair(value: Any) -> None:
    raw = _text(value).encode()
    repeats = duplicate_keys(raw, orjson.loads(raw))
    assert bool(repeats) == _reference_repeats(raw.decode())
    assert repeats == duplicate_keys(raw)  # the places named are the slow reader's
