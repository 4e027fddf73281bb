"""The checks, each a function of a `Target` that raises AssertionError with what it saw."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema

Check = Callable[["Target"], None]
CHECKS: list[tuple[str, str, Check]] = []  # (section, statement, check)
SCHEMAS = Path(__file__).resolve().parents[1] / "authzen"
NOBODY, NOTHING = "conformance-nobody-0", "conformance-nothing-0"  # ids no registry holds


@dataclass
class Target:
    client: httpx.Client  # base URL set; an httpx.Client or the ASGI test client
    token: str
    base_url: str
    allow: tuple[str, str] | None = None  # (person, document) the deployment allows, if known
    search_token: str | None = None  # a token with authz:search, for the Search APIs' checks

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, auth: bool = True,
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if auth:
            token = self.token
            if path.startswith("/access/v1/search/"):
                if self.search_token is None:
                    raise Skip("no --search-token given")
                token = self.search_token
            sent["Authorization"] = f"Bearer {token}"
        content = raw if raw is not None else json.dumps(body).encode()
        return self.client.post(path, content=content, headers=sent)


def check(section: str, statement: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS.append((section, statement, function))
        return function

    return register


def ask(person: str = NOBODY, document: str = NOTHING, action: str = "read", **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "resource": {"type": "document", "id": document},
            "action": {"name": action}, **extra}


def _decision(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    answer = response.json()
    assert isinstance(answer.get("decision"), bool), answer
    return answer


# --- Access Evaluation API ------------------------------------------------------------------------------


@check("Access Evaluation API Request", "subject, resource and action are REQUIRED: without one, 400")
def _required_members(t: Target) -> None:
    for member in ("subject", "resource", "action"):
        body = {k: v for k, v in ask().items() if k != member}
        assert t.post("/access/v1/evaluation", body).status_code == 400, member


@check("Access Evaluation API Response", "a well-formed request is 200 with a boolean decision, per the schema")
def _evaluation_answer(t: Target) -> None:
    answer = _decision(t.post("/access/v1/evaluation", ask()))
    assert answer["decision"] is False  # an id no registry holds: closed
    schema = json.loads((SCHEMAS / "evaluation-response.schema.json").read_text())
    jsonschema.validate(answer, schema)


@check("Decision", "a permitted request is true (given --allow)")
def _permit(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    assert _decision(t.post("/access/v1/evaluation", ask(*t.allow)))["decision"] is True


@check("Decision Context", "context, when present, is an object")
def _decision_context(t: Target) -> None:
    answer = _decision(t.post("/access/v1/evaluation", ask()))
    assert isinstance(answer.get("context", {}), dict), answer


# --- Access Evaluations API -----------------------------------------------------------------------------


@check("Access Evaluations API Response", "one answer per evaluation, in the order asked")
def _evaluations_order(t: Target) -> None:
    items = [ask(person=f"{NOBODY}{i}") for i in range(3)]
    answer = t.post("/access/v1/evaluations", {"evaluations": items})
    assert answer.status_code == 200, answer.text
    evaluations = answer.json()["evaluations"]
    assert len(evaluations) == 3 and all(e["decision"] is False for e in evaluations), evaluations


@check("Access Evaluations API Request", "no evaluations array: answered as one Access Evaluation")
def _evaluations_backwards_compatible(t: Target) -> None:
    for body in (ask(), {**ask(), "evaluations": []}):
        answer = _decision(t.post("/access/v1/evaluations", body))
        assert "evaluations" not in answer, answer


@check("Default values", "top-level subject, action and context fill each evaluation that lacks them")
def _defaults(t: Target) -> None:
    base = ask()
    body = {"subject": base["subject"], "action": base["action"],
            "evaluations": [{"resource": {"type": "document", "id": f"{NOTHING}{i}"}} for i in range(2)]}
    answer = t.post("/access/v1/evaluations", body)
    assert answer.status_code == 200 and len(answer.json()["evaluations"]) == 2, answer.text


@check("Evaluations semantics", "deny_on_first_deny stops at the first denial")
def _deny_on_first_deny(t: Target) -> None:
    body = {"evaluations": [ask(), ask()], "options": {"evaluations_semantic": "deny_on_first_deny"}}
    evaluations = t.post("/access/v1/evaluations", body).json()["evaluations"]
    assert [e["decision"] for e in evaluations] == [False], evaluations


@check("Evaluations semantics", "permit_on_first_permit goes on past denials")
def _permit_on_first_permit(t: Target) -> None:
    body = {"evaluations": [ask(), ask()], "options": {"evaluations_semantic": "permit_on_first_permit"}}
    evaluations = t.post("/access/v1/evaluations", body).json()["evaluations"]
    assert [e["decision"] for e in evaluations] == [False, False], evaluations


@check("Errors", "an evaluation that cannot be evaluated is answered in its place, false, with an error")
def _item_error(t: Target) -> None:
    body = {"evaluations": [ask(), ask(person="not an id!"), ask()]}
    response = t.post("/access/v1/evaluations", body)
    assert response.status_code == 200, response.text
    evaluations = response.json()["evaluations"]
    assert len(evaluations) == 3 and evaluations[1]["decision"] is False, evaluations
    assert "error" in evaluations[1].get("context", {}), evaluations[1]


# --- Search APIs ------------------------------------------------------------------------------------------


def _search(t: Target, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    response = t.post(f"/access/v1/search/{kind}", body)
    assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
    answer = response.json()
    assert isinstance(answer.get("results"), list), answer
    if "page" in answer:
        assert isinstance(answer["page"].get("next_token"), str), answer["page"]
    return answer  # type: ignore[no-any-return]


def _who(document: str) -> dict[str, Any]:
    return {"subject": {"type": "person"}, "action": {"name": "read"}, "resource": {"type": "document", "id": document}}


def _what(person: str) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "action": {"name": "read"}, "resource": {"type": "document"}}


@check("The Search API Response", "results is REQUIRED, an array; a page object carries next_token")
def _search_shape(t: Target) -> None:
    for kind, body in (("subject", _who(NOTHING)), ("resource", _what(NOBODY)),
                       ("action", {"subject": ask()["subject"], "resource": ask()["resource"]})):
        assert _search(t, kind, body)["results"] == [], kind  # ids no registry holds: nothing found


@check("Subject Search API", "returns the subjects permitted, only of the type searched (given --allow)")
def _subject_search(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    results = _search(t, "subject", _who(t.allow[1]))["results"]
    assert {"type": "person", "id": t.allow[0]} in results, results
    assert all(r["type"] == "person" for r in results), results


@check("Resource Search API", "returns the resources permitted (given --allow)")
def _resource_search(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    results = _search(t, "resource", _what(t.allow[0]))["results"]
    assert {"type": "document", "id": t.allow[1]} in results, results


@check("Action Search API", "returns the actions permitted (given --allow)")
def _action_search(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    body = {"subject": {"type": "person", "id": t.allow[0]}, "resource": {"type": "document", "id": t.allow[1]}}
    assert {"name": "read"} in _search(t, "action", body)["results"]


@check("Semantics", "a search result, evaluated, is true (given --allow)")
def _search_then_evaluate(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    for found in _search(t, "subject", {**_who(t.allow[1]), "page": {"limit": 5}})["results"]:
        assert _decision(t.post("/access/v1/evaluation", ask(found["id"], t.allow[1])))["decision"] is True, found


@check("Paginated Requests", "a request changed mid-pagination is an error (given --allow)")
def _changed_mid_pagination(t: Target) -> None:
    if t.allow is None:
        raise Skip("no --allow pair given")
    first = _search(t, "subject", {**_who(t.allow[1]), "page": {"limit": 0}})
    token = first["page"]["next_token"]
    assert token, first  # limit 0 and at least one result: there is more to page through
    changed = {**_who(NOTHING), "page": {"limit": 0, "token": token}}
    assert t.post("/access/v1/search/subject", changed).status_code == 400


# --- Transport --------------------------------------------------------------------------------------------


@check("Error Responses", "a payload that is not valid JSON is 400")
def _bad_json(t: Target) -> None:
    assert t.post("/access/v1/evaluation", raw=b'{"subject": ').status_code == 400


@check("Sender Authentication Failure", "a request without credentials is 401")
def _unauthenticated(t: Target) -> None:
    assert t.post("/access/v1/evaluation", ask(), auth=False).status_code == 401


@check("Request Identification", "the X-Request-ID sent comes back unchanged")
def _request_id(t: Target) -> None:
    for sent in ("conformance-7f3a", "Root=1-5759e988;Sampled=1", "x" * 250):
        response = t.post("/access/v1/evaluation", ask(), headers={"X-Request-ID": sent})
        assert response.headers.get("x-request-id") == sent, (sent, response.headers.get("x-request-id"))


@check("JSON Payload Considerations", "a key named twice in one object is refused, not guessed at")
def _duplicate_keys(t: Target) -> None:
    raw = json.dumps(ask()).encode()[:-1] + b', "action": {"name": "write"}}'
    assert t.post("/access/v1/evaluation", raw=raw).status_code == 400


# --- Policy Decision Point Metadata --------------------------------------------------------------------------


@check("Policy Decision Point Metadata Response", "200, application/json, the endpoints as absolute URLs")
def _metadata(t: Target) -> None:
    response = t.client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    metadata = response.json()
    base = metadata["policy_decision_point"]
    assert metadata["access_evaluation_endpoint"] == f"{base}/access/v1/evaluation", metadata
    assert metadata["access_evaluations_endpoint"] == f"{base}/access/v1/evaluations", metadata
    for kind in ("subject", "resource", "action"):
        assert metadata[f"search_{kind}_endpoint"] == f"{base}/access/v1/search/{kind}", metadata


@check("Policy Decision Point Metadata Validation", "policy_decision_point is the URL the metadata came from")
def _pdp_identifier(t: Target) -> None:
    metadata = t.client.get("/.well-known/authzen-configuration").json()
    assert metadata["policy_decision_point"] == t.base_url.rstrip("/"), (metadata, t.base_url)


class Skip(Exception):
    """The check needs something this run was not given."""


def run(target: Target) -> list[tuple[str, str, str, str]]:
    """(section, statement, PASS|FAIL|SKIP, what went wrong) for every check, in order."""
    results = []
    for section, statement, function in CHECKS:
        try:
            function(target)
            results.append((section, statement, "PASS", ""))
        except Skip as exc:
            results.append((section, statement, "SKIP", str(exc)))
        except (AssertionError, KeyError, ValueError, httpx.HTTPError, jsonschema.ValidationError) as exc:
            results.append((section, statement, "FAIL", f"{type(exc).__name__}: {exc}"[:300]))
    return results
