"""AuthZEN search through the real ASGI app: results agree with evaluation, pages hold together, every
search is logged, and the scopes hold (api.md, "Search")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.rules_registry import rules_bundle
from tests.support import Gateway

LAST_MONTH = "2026-05-15T12:00:00+09:00"


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    return gateway


def search(gw: Gateway, kind: str, body: dict[str, Any], *scopes: str, status: int = 200) -> dict[str, Any]:
    response = gw.client.post(
        f"/access/v1/search/{kind}", json=body, headers=gw.keys.auth(*(scopes or ("authz:search",)))
    )
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def who(document: str, **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": "person"}, "action": {"name": "read"}, "resource": {"type": "document", "id": document},
            **extra}  # fmt: skip


def what(person: str, **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "action": {"name": "read"}, "resource": {"type": "document"},
            **extra}  # fmt: skip


def every_page(gw: Gateway, kind: str, body: dict[str, Any], *scopes: str) -> list[str]:
    """Walk a search to its last page, checking each page's shape on the way."""
    ids: list[str] = []
    token = None
    while True:
        page_request = {**body.get("page", {}), **({"token": token} if token else {})}
        answer = search(gw, kind, {**body, "page": page_request}, *scopes)
        assert list(answer) == ["page", "context", "results"]  # page first, as the spec recommends
        assert answer["page"]["count"] == len(answer["results"])
        ids += [r["id"] for r in answer["results"]]
        token = answer["page"]["next_token"]
        if not token:
            return ids


def test_subject_search_lists_exactly_the_persons_an_evaluation_allows(registry: Gateway) -> None:
    bundle = rules_bundle()
    persons = sorted(p["id"] for p in bundle["persons"])
    for document in sorted(d["id"] for d in bundle["documents"]):
        expected = [p for p in persons if registry.evaluate(p, document)["decision"]]
        answer = search(registry, "subject", who(document))
        assert [r["id"] for r in answer["results"]] == expected, document
        assert all(r["type"] == "person" for r in answer["results"])
        assert answer["page"] == {"next_token": "", "count": len(expected)}


def test_resource_search_lists_exactly_the_documents_an_evaluation_allows(registry: Gateway) -> None:
    bundle = rules_bundle()
    documents = sorted(d["id"] for d in bundle["documents"])
    seen_an_allow = False
    for person in sorted(p["id"] for p in bundle["persons"]):
        expected = [d for d in documents if registry.evaluate(person, d)["decision"]]
        seen_an_allow |= len(expected) > 1
        answer = search(registry, "resource", what(person))
        assert [r["id"] for r in answer["results"]] == expected, person
        assert all(r["type"] == "document" for r in answer["results"])
    assert seen_an_allow


def test_action_search_lists_the_actions_the_person_may_take(registry: Gateway) -> None:
    body = {"subject": {"type": "person", "id": "P-OK"}, "resource": {"type": "document", "id": "D-ESI"}}
    assert search(registry, "action", body)["results"] == [{"name": "read"}]
    body["subject"]["id"] = "P-NOROSTER"
    assert search(registry, "action", body)["results"] == []


def test_unknown_ids_and_other_types_find_nothing(registry: Gateway) -> None:
    assert search(registry, "subject", who("DOC-NOPE"))["results"] == []
    assert search(registry, "resource", what("P-NOPE"))["results"] == []
    other = who("D-ESI")
    other["subject"] = {"type": "user"}
    assert search(registry, "subject", other)["results"] == []
    # An id sent with the searched entity is ignored, as the spec says.
    with_id = who("D-ESI")
    with_id["subject"]["id"] = "P-NOROSTER"
    assert search(registry, "subject", with_id)["results"] == search(registry, "subject", who("D-ESI"))["results"]


def test_pages_of_one_walk_the_whole_result_without_repeats_or_gaps(registry: Gateway) -> None:
    whole = [r["id"] for r in search(registry, "resource", what("P-OK"))["results"]]
    assert len(whole) >= 2
    paged = every_page(registry, "resource", {**what("P-OK"), "page": {"limit": 1}})
    assert paged == whole
    first = search(registry, "resource", {**what("P-OK"), "page": {"limit": 1}})
    assert first["page"]["count"] == 1 and first["page"]["next_token"]
    # limit 0: no results, and a token that still starts at the beginning
    empty = search(registry, "resource", {**what("P-OK"), "page": {"limit": 0}})
    assert empty["results"] == [] and empty["page"]["next_token"]


def test_a_change_made_between_pages_neither_repeats_nor_drops_a_result(registry: Gateway) -> None:
    whole = [r["id"] for r in search(registry, "resource", what("P-OK"))["results"]]
    first = search(registry, "resource", {**what("P-OK"), "page": {"limit": 1}})
    # the person's clearance is suspended while the client pages: the search stays at its first instant
    registry.clock.set("2026-06-01T03:05:00+00:00")
    response = registry.client.post("/v1/admin/assessments/A-OK/suspend", headers=registry.keys.auth("registry:admin"))
    assert response.status_code == 200, response.text
    rest = every_page(
        registry, "resource", {**what("P-OK"), "page": {"limit": 1, "token": first["page"]["next_token"]}}
    )
    assert [first["results"][0]["id"], *rest] == whole
    # a new search sees the suspension
    assert [r["id"] for r in search(registry, "resource", what("P-OK"))["results"]] == ["D-PUB"]


def test_a_request_changed_mid_pagination_is_refused(registry: Gateway) -> None:
    first = search(registry, "resource", {**what("P-OK"), "page": {"limit": 1}})
    token = first["page"]["next_token"]
    for changed in (
        {**what("P-OTHER"), "page": {"limit": 1, "token": token}},
        {**what("P-OK"), "page": {"limit": 2, "token": token}},
        {**what("P-OK", context={"note": 1}), "page": {"limit": 1, "token": token}},
    ):
        problem = search(registry, "resource", changed, status=400)
        assert "changed mid-pagination" in problem["detail"]
        assert [e["pointer"] for e in problem["errors"]] == ["/page/token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    problem = search(registry, "resource", {**what("P-OK"), "page": {"limit": 1, "token": forged}}, status=400)
    assert "not a token this gateway gave" in problem["detail"]


def test_pages_expire_an_hour_after_the_first(registry: Gateway) -> None:
    first = search(registry, "resource", {**what("P-OK"), "page": {"limit": 1}})
    registry.clock.set("2026-06-01T04:01:00+00:00")
    body = {**what("P-OK"), "page": {"limit": 1, "token": first["page"]["next_token"]}}
    assert "expired" in search(registry, "resource", body, status=400)["detail"]


def test_search_needs_its_scope_and_a_past_instant_needs_authz_simulate(registry: Gateway) -> None:
    search(registry, "subject", who("D-ESI"), "authz:evaluate", status=403)
    search(registry, "subject", who("D-ESI"), "audit:read", status=403)
    past = who("D-ESI", context={"time": LAST_MONTH})
    assert "authz:simulate" in search(registry, "subject", past, status=403)["detail"]
    response = registry.client.post("/access/v1/search/subject", json=who("D-ESI"))
    assert response.status_code == 401


def test_a_search_at_a_past_instant_sees_the_registry_as_it_stood(registry: Gateway) -> None:
    response = registry.client.post("/v1/admin/assessments/A-OK/suspend", headers=registry.keys.auth("registry:admin"))
    assert response.status_code == 200
    now = [r["id"] for r in search(registry, "subject", who("D-ESI"))["results"]]
    past = search(registry, "subject", who("D-ESI", context={"time": LAST_MONTH}), "authz:search", "authz:simulate")
    assert "P-OK" not in now and "P-OK" in [r["id"] for r in past["results"]]
    assert past["context"]["simulation"] is True
    persons = sorted(p["id"] for p in rules_bundle()["persons"])
    assert [r["id"] for r in past["results"]] == [
        p for p in persons if registry.evaluate(p, "D-ESI", at=LAST_MONTH)["decision"]
    ]


def test_bad_search_requests_name_each_bad_field(registry: Gateway) -> None:
    problem = search(registry, "subject", {"subject": {"type": "person"}, "action": {"name": "read"}}, status=400)
    assert [e["pointer"] for e in problem["errors"]] == ["/resource"]
    bad = who("D-ESI", page={"limit": -1})
    assert [e["pointer"] for e in search(registry, "subject", bad, status=400)["errors"]] == ["/page/limit"]
    bad = who("D-ESI", context={"time": "yesterday"})
    bad["subject"]["type"] = "Person!"
    problem = search(registry, "subject", bad, status=400)
    assert sorted(e["pointer"] for e in problem["errors"]) == ["/context/time", "/subject/type"]


def test_every_search_is_logged_for_the_auditors(registry: Gateway) -> None:
    answer = search(registry, "subject", who("D-ESI", page={"limit": 1}))
    logged = registry.client.get(
        f"/v1/audit/decisions/{answer['context']['decision_id']}", headers=registry.keys.auth("audit:read")
    ).json()
    assert logged["channel"] == "search"
    assert logged["document"] == "D-ESI" and logged["action"] == "read"
    assert logged["facts"]["search"] == "subject"
    assert logged["facts"]["count"] == 1
    assert logged["facts"]["results"] == [answer["results"][0]["id"]]
    assert isinstance(logged["facts"]["registry_version"], int)
    assert logged["policy_version"] == answer["context"]["policy_version"]
    listed = registry.client.get("/v1/audit/decisions?channel=search", headers=registry.keys.auth("audit:read"))
    assert [d["decision_id"] for d in listed.json()["items"]] == [answer["context"]["decision_id"]]
    verified = registry.client.get("/v1/audit/verify", headers=registry.keys.auth("audit:read")).json()
    assert verified["ok"] is True


def test_the_metadata_lists_the_search_endpoints(gateway: Gateway) -> None:
    metadata = gateway.client.get("/.well-known/authzen-configuration").json()
    for kind in ("subject", "resource", "action"):
        assert metadata[f"search_{kind}_endpoint"].endswith(f"/access/v1/search/{kind}")


def test_auditors_list_the_searches_from_the_cli_and_the_page(
    registry: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app

    searched = search(registry, "resource", what("P-OK"))["context"]["decision_id"]
    registry.evaluate("P-OK", "D-ESI")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", registry.settings.database_url)
    result = CliRunner().invoke(app, ["audit", "decisions", "--channel", "search", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["decision_id"] for line in result.stdout.splitlines()] == [searched]
    token = registry.keys.token("audit:read")
    registry.client.cookies.set("cg_audit", token, path="/audit")
    page = registry.client.get("/audit/?channel=search")
    assert page.status_code == 200 and searched in page.text
    assert registry.client.get("/audit/?channel=gossip").status_code == 400


def test_a_searchs_record_shows_the_ids_it_found_on_the_page_and_in_the_cli(
    registry: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app

    answer = search(registry, "resource", what("P-OK"))
    decision_id = answer["context"]["decision_id"]
    registry.client.cookies.set("cg_audit", registry.keys.token("audit:read"), path="/audit")
    page = registry.client.get(f"/audit/decisions/{decision_id}").text
    assert "<code>D-ESI</code>, <code>D-PUB</code>" in page
    monkeypatch.setenv("GATEWAY_DATABASE_URL", registry.settings.database_url)
    shown = CliRunner().invoke(app, ["audit", "show", decision_id])
    assert shown.exit_code == 0, shown.output
    assert "D-ESI, D-PUB" in shown.stdout
    other = search(registry, "subject", {**who("D-ESI"), "subject": {"type": "user"}})
    logged = registry.client.get(
        f"/v1/audit/decisions/{other['context']['decision_id']}", headers=registry.keys.auth("audit:read")
    ).json()
    assert logged["facts"]["subject_type"] == "user" and logged["facts"]["count"] == 0
