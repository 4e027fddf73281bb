"""The OpenID AuthZEN 1.0 surface, as a PEP sees it: through the real ASGI app, on both databases.

The contract is docs/api.md; requests and answers are checked against the AuthZEN JSON schemas
kept in tests/authzen (with the specification's notice). Decisions come from the registry in
tests/rules_registry.py at the fixtures' clock (2026-06-01), where P-OK may read D-ESI and P-NOROSTER may not.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.authzen_calls import (
    ALLOW,
    DENY,
    EVALUATION,
    EVALUATIONS,
    T_SIM,
    Schemas,
    ask,
    codes,
    log_rows,
    logged,
    post,
)
from tests.support import Gateway, assert_problem

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
