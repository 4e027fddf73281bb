"""The OpenID AuthZEN 1.0 surface, as a PEP sees it: through the real ASGI app, on both databases.

The contract is docs/api.md; requests and answers are checked against the AuthZEN JSON schemas
kept in tests/authzen (with the specification's notice). Decisions come from the registry in
tests/rules_registry.py at the fixtures' clock (2026-06-01), where P-OK may read D-ESI and P-NOROSTER may not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from models import DecisionRecord
from tests.rules_registry import rules_bundle
from tests.support import Gateway

AUTHZEN = Path(__file__).resolve().parents[1] / "authzen"
EVALUATION, EVALUATIONS = "/access/v1/evaluation", "/access/v1/evaluations"
PROBLEM_JSON = "application/problem+json"
ALLOW, DENY = ("P-OK", "D-ESI"), ("P-NOROSTER", "D-ESI")
T_SIM = "2030-06-01T09:00:00+09:00"


# --- helpers -------------------------------------------------------------------------------------

class Schemas:
    def __init__(self, directory: Path):
        def load(name: str) -> jsonschema.Draft202012Validator:
            schema = json.loads((directory / name).read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            return jsonschema.Draft202012Validator(schema)

        self.request = load("evaluation-request.schema.json")
        self.response = load("evaluation-response.schema.json")


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    return Schemas(AUTHZEN)


@pytest.fixture
def gw(gateway: Gateway) -> Gateway:
    """A gateway with the rules registry loaded (tests of refusals need none: they use `gateway`)."""
    gateway.import_bundle(rules_bundle())
    return gateway


def ask(person: str = "P-OK", document: str = "D-ESI", action: str = "read", **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "resource": {"type": "document", "id": document},
            "action": {"name": action}, **extra}


def post(gw: Gateway, path: str, body: Any = None, *scopes: str, content: Any = None,
         headers: dict[str, str] | None = None) -> Any:
    auth = gw.keys.auth(*(scopes or ("authz:evaluate",)))
    if content is not None:
        return gw.client.post(path, content=content, headers={**auth, "Content-Type": "application/json",
                                                              **(headers or {})})
    return gw.client.post(path, json=body, headers={**auth, **(headers or {})})


def codes(answer: dict[str, Any]) -> list[str]:
    return [r["code"] for r in answer["context"]["reasons"]]


def logged(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one()


def log_rows(gw: Gateway, decision_ids: list[str]) -> dict[str, Any]:
    table = DecisionRecord.__table__
    with gw.container.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.decision_id.in_(decision_ids))).mappings().all()
    return {row["decision_id"]: row for row in rows}


def assert_problem(response: Any, status: int, *pointers: str) -> dict[str, Any]:
    """An RFC 9457 answer with `status`, whose `errors` name at least each of `pointers`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    for key in ("title", "detail"):
        assert isinstance(body[key], str) and body[key]
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    if pointers:
        named = {e["pointer"] for e in body["errors"]}
        assert set(pointers) <= named, body["errors"]
    return body


# --- the AuthZEN schemas ---------------------------------------------------------------------------

@pytest.mark.parametrize("who", [ALLOW, DENY], ids=["allow", "deny"])
def test_evaluation_request_and_response_follow_the_authzen_schemas(gw: Gateway, schemas: Schemas,
                                                                     who: tuple[str, str]) -> None:
    body = ask(*who, context={"channel": "viewer"})
    schemas.request.validate(body)
    response = post(gw, EVALUATION, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    schemas.response.validate(answer)
    assert answer["decision"] is (who == ALLOW)
    assert answer["context"]["decision_id"]
    assert answer["context"]["policy_version"].startswith("sha256:")
    assert (codes(answer) == []) is answer["decision"]


def test_each_batch_item_follows_the_authzen_schemas(gw: Gateway, schemas: Schemas) -> None:
    defaults = {"subject": {"type": "person", "id": "P-OK"}, "action": {"name": "read"}}
    items = [{"resource": {"type": "document", "id": d}} for d in ("D-ESI", "D-SDS", "D-PUB", "D-NOPE")]
    for item in items:
        schemas.request.validate({**defaults, **item})  # what each item means, once defaults are applied
    response = post(gw, EVALUATIONS, {**defaults, "evaluations": items})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    answers = response.json()["evaluations"]
    assert len(answers) == len(items)
    for answer in answers:
        schemas.response.validate(answer)
    assert [a["decision"] for a in answers] == [True, False, True, False]


# --- the Access Evaluations API ----------------------------------------------------------------------

def test_top_level_defaults_apply_and_items_override_them(gw: Gateway) -> None:
    body = {
        "subject": {"type": "person", "id": "P-OK"},
        "resource": {"type": "document", "id": "D-ESI"},
        "action": {"name": "read"},
        "evaluations": [
            {},
            {"resource": {"type": "document", "id": "D-SDS"}},
            {"subject": {"type": "person", "id": "P-NOROSTER"}},
            {"action": {"name": "write"}},
            {"subject": {"type": "person", "id": "P-SDS"}, "resource": {"type": "document", "id": "D-SDS"}},
        ],
    }
    response = post(gw, EVALUATIONS, body)
    assert response.status_code == 200, response.text
    answers = response.json()["evaluations"]
    assert [codes(a) for a in answers] == [
        [], ["clearance_insufficient"], ["not_on_roster"], ["action_not_permitted"], [],
    ]
    assert [a["decision"] for a in answers] == [True, False, False, False, True]
    ids = [a["context"]["decision_id"] for a in answers]
    rows = log_rows(gw, ids)
    asked = [(rows[i]["person_id"], rows[i]["document_id"], rows[i]["action"]) for i in ids]
    assert asked == [("P-OK", "D-ESI", "read"), ("P-OK", "D-SDS", "read"), ("P-NOROSTER", "D-ESI", "read"),
                     ("P-OK", "D-ESI", "write"), ("P-SDS", "D-SDS", "read")]


SEMANTICS = [
    # options.evaluations_semantic, the decisions the items would get, the decisions returned
    (None, [True, False, True, False], [True, False, True, False]),
    ("execute_all", [True, False, True, False], [True, False, True, False]),
    ("execute_all", [False, False], [False, False]),
    ("deny_on_first_deny", [True, False, True, False], [True, False]),
    ("deny_on_first_deny", [False, True], [False]),
    ("deny_on_first_deny", [True, True, True], [True, True, True]),
    ("permit_on_first_permit", [True, False, True], [True]),
    ("permit_on_first_permit", [False, False, True, False], [False, False, True]),
    ("permit_on_first_permit", [False, False], [False, False]),
]


@pytest.mark.parametrize(("semantic", "items", "expected"), SEMANTICS)
def test_semantics_return_in_order_and_log_exactly_the_decisions_made(
        gw: Gateway, semantic: str | None, items: list[bool], expected: list[bool]) -> None:
    evaluations = [ask(*(ALLOW if allowed else DENY)) for allowed in items]
    body: dict[str, Any] = {"evaluations": evaluations}
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic, "another_option": "value"}
    before = logged(gw)
    response = post(gw, EVALUATIONS, body)
    assert response.status_code == 200, response.text
    answers = response.json()["evaluations"]
    assert [a["decision"] for a in answers] == expected
    assert logged(gw) - before == len(answers)
    ids = [a["context"]["decision_id"] for a in answers]
    rows = log_rows(gw, ids)
    assert sorted(rows) == sorted(ids)
    assert [rows[i]["allowed"] for i in ids] == expected


def test_deny_on_first_deny_logs_only_what_it_evaluated(gw: Gateway) -> None:
    body = {"subject": {"type": "person", "id": "P-OK"}, "action": {"name": "read"},
            "options": {"evaluations_semantic": "deny_on_first_deny"},
            "evaluations": [{"resource": {"type": "document", "id": d}}
                            for d in ("D-ESI", "D-PUB", "D-SDS", "D-ESI")]}
    before = logged(gw)
    answers = post(gw, EVALUATIONS, body).json()["evaluations"]
    assert [a["decision"] for a in answers] == [True, True, False]
    assert codes(answers[-1]) == ["clearance_insufficient"]
    assert logged(gw) - before == 3


@pytest.mark.parametrize("evaluations", [{}, {"evaluations": []}], ids=["absent", "empty"])  # null: refused
@pytest.mark.parametrize("who", [ALLOW, DENY], ids=["allow", "deny"])
def test_a_batch_without_items_is_a_single_evaluation(
        gw: Gateway, schemas: Schemas, evaluations: dict[str, Any], who: tuple[str, str]) -> None:
    before = logged(gw)
    options = {"evaluations_semantic": "execute_all"}
    response = post(gw, EVALUATIONS, {**ask(*who), **evaluations, "options": options})
    assert response.status_code == 200, response.text
    answer = response.json()
    schemas.response.validate(answer)
    assert "evaluations" not in answer
    assert answer["decision"] is (who == ALLOW)
    assert logged(gw) - before == 1
    assert answer["context"]["decision_id"] in log_rows(gw, [answer["context"]["decision_id"]])


def test_a_batch_of_exactly_1000_is_answered_in_full(gw: Gateway, schemas: Schemas) -> None:
    assert gw.settings.max_batch == 1000
    body = {"subject": {"type": "person", "id": "P-OK"}, "action": {"name": "read"},
            "evaluations": [{"resource": {"type": "document", "id": "D-ESI" if i % 2 else "D-SDS"}}
                            for i in range(1000)]}
    before = logged(gw)
    response = post(gw, EVALUATIONS, body)
    assert response.status_code == 200, response.text
    answers = response.json()["evaluations"]
    assert [a["decision"] for a in answers] == [bool(i % 2) for i in range(1000)]
    for answer in answers:
        schemas.response.validate(answer)
    assert len({a["context"]["decision_id"] for a in answers}) == 1000
    assert logged(gw) - before == 1000


def test_a_batch_of_1001_is_refused_whole(gw: Gateway) -> None:
    body = {**ask(), "evaluations": [{} for _ in range(1001)]}
    before = logged(gw)
    problem = assert_problem(post(gw, EVALUATIONS, body), 400, "/evaluations")
    assert "1000" in problem["detail"]
    assert logged(gw) == before


BATCH_ERRORS = [
    ("unknown semantic", {**ask(), "evaluations": [{}], "options": {"evaluations_semantic": "first_wins"}},
     ["/options/evaluations_semantic"]),
    ("semantic of the wrong type", {**ask(), "evaluations": [{}], "options": {"evaluations_semantic": 1}},
     ["/options/evaluations_semantic"]),
    ("options not an object", {**ask(), "evaluations": [{}], "options": "execute_all"}, ["/options"]),
    ("evaluations not an array", {**ask(), "evaluations": {"0": {}}}, ["/evaluations"]),
    ("an item not an object", {**ask(), "evaluations": [{}, "D-ESI"]}, ["/evaluations/1"]),
    # An item that cannot be evaluated is answered in its own place (tests/http/test_authzen_strict.py).
]


@pytest.mark.parametrize(("body", "pointers"), [c[1:] for c in BATCH_ERRORS],
                         ids=[c[0] for c in BATCH_ERRORS])
def test_a_bad_batch_is_refused_and_nothing_is_decided(gateway: Gateway, body: dict[str, Any],
                                                       pointers: list[str]) -> None:
    before = logged(gateway)
    assert_problem(post(gateway, EVALUATIONS, body, "authz:evaluate", "authz:simulate"), 400, *pointers)
    assert logged(gateway) == before


# --- metadata ------------------------------------------------------------------------------------------

def test_metadata_needs_no_token_and_publishes_both_endpoints(gw: Gateway) -> None:
    response = gw.client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    metadata = response.json()
    base = metadata["policy_decision_point"]
    assert metadata["access_evaluation_endpoint"] == f"{base}/access/v1/evaluation"
    assert metadata["access_evaluations_endpoint"] == f"{base}/access/v1/evaluations"
    for key in ("access_evaluation_endpoint", "access_evaluations_endpoint"):  # and they answer there
        path = metadata[key].removeprefix(base)
        assert post(gw, path, ask()).status_code == 200


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


# --- request identification ---------------------------------------------------------------------------

REQUEST_IDS = [
    "bfe9eb29-ab87-4ca3-be83-a1d5d8305716",
    "01J9ZQ3K8G7N5V2W4X6Y8Z0A1B",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    "req/42+retry=2",
]


@pytest.mark.parametrize("request_id", REQUEST_IDS)
@pytest.mark.parametrize("body", [ask(), {"subject": 1}], ids=["decided", "refused"])
def test_a_sent_request_id_is_echoed(gateway: Gateway, request_id: str, body: dict[str, Any]) -> None:
    response = post(gateway, EVALUATION, body, headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id
    if response.status_code == 200:
        decision_id = response.json()["context"]["decision_id"]
        assert log_rows(gateway, [decision_id])[decision_id]["request_id"] == request_id


def test_a_request_id_is_generated_when_none_is_sent(gw: Gateway) -> None:
    first, second = post(gw, EVALUATION, ask()), post(gw, EVALUATIONS, {"evaluations": [ask(), ask(*DENY)]})
    generated = [r.headers.get("X-Request-ID") for r in (first, second)]
    assert all(generated) and generated[0] != generated[1]
    rows = log_rows(gw, [a["context"]["decision_id"] for a in second.json()["evaluations"]])
    assert {row["request_id"] for row in rows.values()} == {generated[1]}


# --- simulations -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["single", "batch default", "batch item"])
def test_context_time_needs_authz_simulate(gw: Gateway, where: str) -> None:
    time = {"time": T_SIM}
    body = {
        "single": ask(context=time),
        "batch default": {**ask(), "context": time, "evaluations": [{}]},
        "batch item": {**ask(), "evaluations": [{}, {"context": time}]},
    }[where]
    path = EVALUATION if where == "single" else EVALUATIONS
    before = logged(gw)
    token = gw.keys.token("authz:evaluate")
    response = gw.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    problem = assert_problem(response, 403)
    assert "authz:simulate" in problem["detail"]
    assert token not in response.text
    assert logged(gw) == before


def test_a_simulation_says_so_and_is_logged_as_one(gw: Gateway, schemas: Schemas) -> None:
    response = post(gw, EVALUATION, ask(*ALLOW, context={"time": T_SIM}), "authz:evaluate", "authz:simulate")
    assert response.status_code == 200, response.text
    answer = response.json()
    schemas.response.validate(answer)
    assert answer["context"]["simulation"] is True
    assert codes(answer) == ["designation_not_in_force"]  # G-ESI ran out on 2030-05-31
    row = log_rows(gw, [answer["context"]["decision_id"]])[answer["context"]["decision_id"]]
    assert row["simulation"] is True
    now = post(gw, EVALUATION, ask(*ALLOW)).json()
    assert now["decision"] is True and "simulation" not in now["context"]


def test_a_simulated_batch_marks_only_the_simulated_items(gw: Gateway) -> None:
    body = {**ask(*ALLOW), "evaluations": [{}, {"context": {"time": T_SIM}}]}
    response = post(gw, EVALUATIONS, body, "authz:evaluate", "authz:simulate")
    assert response.status_code == 200, response.text
    now, then = response.json()["evaluations"]
    assert now["decision"] is True and "simulation" not in now["context"]
    assert then["decision"] is False and then["context"]["simulation"] is True


def test_a_crash_is_a_500_problem_that_echoes_the_request_id_and_allows_nothing(gateway: Gateway, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.container.decisions, "_decide", broken)
    body = {"subject": {"type": "person", "id": "P-1"}, "resource": {"type": "document", "id": "D-1"},
            "action": {"name": "read"}}
    headers = gateway.keys.auth("authz:evaluate") | {"X-Request-ID": "trace-500"}
    response = gateway.client.post("/access/v1/evaluation", json=body, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
    problem = response.json()
    assert "decision" not in problem
    assert "not allowed" in problem["detail"] and "trace-500" in problem["detail"]
