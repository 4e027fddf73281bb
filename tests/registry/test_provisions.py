"""C5a: a designating organ provides a designation to another organ, whose cleared staff on the
roster then handle it as their own organ's, judged by their own organ's assessments.

P-MOD serves MOD, holds MOD's SDS clearance (A-MOD) and is on G-ESI's roster (METI's ESI). Without a
provision MOD's clearance opens nothing of METI's (C5); from the day METI provides G-ESI to MOD, the
bridge (C6) of MOD's own SDS clearance opens it. The gateway's clock stands at 2026-06-01T03:00Z.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway

ADMIN = "registry:admin"
runner = CliRunner()


def call(gw: Gateway, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
    kwargs: dict[str, Any] = {"headers": gw.keys.auth(ADMIN), "params": params}
    if body is not None:
        kwargs["json"] = body
    return gw.client.request(method, "/v1/admin" + path, **kwargs)


def changes(gw: Gateway) -> list[dict[str, Any]]:
    response = gw.client.get("/v1/audit/changes", headers=gw.keys.auth("audit:read"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_c5a_a_provision_opens_the_designation_to_the_receiving_organs_cleared_staff(registry: Gateway) -> None:
    assert registry.codes("P-MOD", "D-ESI") == ["clearance_missing"]
    message = registry.evaluate("P-MOD", "D-ESI")["context"]["reasons"][0]["message"]
    assert "unless METI has provided designation G-ESI to MOD (C5a)" in message

    response = call(registry, "PUT", "/provisions/G-ESI/MOD", {"from": "2026-06-01"})
    assert response.status_code == 201, response.text
    assert response.json() == {"designation_id": "G-ESI", "organ_id": "MOD", "from": "2026-06-01", "until": None}
    answer = registry.evaluate("P-MOD", "D-ESI")
    assert answer["decision"] is True, answer
    assert registry.codes("P-MOD", "D-ESI", at="2026-05-31T23:59:59+09:00") == ["clearance_missing"]
    event = changes(registry)[0]
    assert (event["action"], event["entity"], event["entity_id"]) == ("provision.add", "provision", "G-ESI/MOD")


def test_c5a_the_receiving_organ_is_judged_by_its_own_assessments(registry: Gateway) -> None:
    """P-METI-BY-MOD serves METI: a provision of METI's own designation to MOD changes nothing for
    METI's staff, whose competent organ stays METI (their MOD assessment still does not count)."""
    before = registry.codes("P-METI-BY-MOD", "D-ESI")
    assert call(registry, "PUT", "/provisions/G-ESI/MOD").status_code == 201
    assert registry.codes("P-METI-BY-MOD", "D-ESI") == before == ["clearance_missing"]


def test_c5a_ending_a_provision_takes_effect_now_and_leaves_the_past(registry: Gateway) -> None:
    assert call(registry, "PUT", "/provisions/G-ESI/MOD", {"from": "2026-01-01"}).status_code == 201
    assert registry.codes("P-MOD", "D-ESI") == []
    registry.clock.set("2026-06-01T05:00:00+00:00")
    ended = call(registry, "DELETE", "/provisions/G-ESI/MOD")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended"] == {
        "designation_id": "G-ESI",
        "organ_id": "MOD",
        "from": "2026-01-01",
        "until": "2026-05-31",
    }
    assert registry.codes("P-MOD", "D-ESI") == ["clearance_missing"]
    assert registry.codes("P-MOD", "D-ESI", at="2026-03-01T12:00:00+09:00") == []  # last quarter stays
    assert registry.codes("P-MOD", "D-ESI", at="2026-06-01T04:00:00+00:00") == []  # an hour before the end
    problem = call(registry, "DELETE", "/provisions/G-ESI/MOD")
    assert problem.status_code == 404 and "not provided to organ 'MOD'" in problem.json()["detail"]
    listed = call(registry, "GET", "/provisions", params={"designation": "G-ESI"}).json()
    assert listed["total"] == 1 and listed["items"][0]["until"] == "2026-05-31"


@pytest.mark.parametrize(
    ("path", "body", "status", "pointer", "says"),
    [
        ("/provisions/G-ESI/METI", None, 422, "/organ_id", "METI's own (C5a)"),
        ("/provisions/G-ESI/MOD", {"from": "2026-07-01", "until": "2026-06-30"}, 422, "/until", "before from"),
        ("/provisions/G-ESI/MOD", {"from": "someday"}, 400, "/from", "YYYY-MM-DD"),
        ("/provisions/G-ESI/NOWHERE", None, 404, None, "NOWHERE"),
        ("/provisions/G-NONE/MOD", None, 404, None, "G-NONE"),
    ],
)
def test_c5a_a_bad_provision_is_refused_and_changes_nothing(
    registry: Gateway, path: str, body: Any, status: int, pointer: str | None, says: str
) -> None:
    count = len(changes(registry))
    response = call(registry, "PUT", path, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    if pointer is not None:
        assert any(e["pointer"] == pointer and says in e["detail"] for e in problem["errors"]), problem
    else:
        assert says in problem["detail"]
    assert len(changes(registry)) == count
    assert call(registry, "GET", "/provisions").json()["total"] == 0


def test_c5a_provisions_are_listed_by_designation_or_organ_and_unknown_filters_are_refused(registry: Gateway) -> None:
    for path in ("/provisions/G-ESI/MOD", "/provisions/G-SDS/MOD"):
        assert call(registry, "PUT", path).status_code == 201
    assert call(registry, "GET", "/provisions", params={"organ": "MOD"}).json()["total"] == 2
    only = call(registry, "GET", "/provisions", params={"designation": "G-SDS", "organ": "MOD"}).json()
    assert [(i["designation_id"], i["organ_id"]) for i in only["items"]] == [("G-SDS", "MOD")]
    refused = call(registry, "GET", "/provisions", params={"person": "P-MOD"})
    assert refused.status_code == 400 and "person" in refused.text
    assert registry.client.get("/v1/admin/provisions", headers=registry.keys.auth("audit:read")).status_code == 403


def test_c5a_provisions_travel_in_bundles_and_an_import_names_a_bad_one(registry: Gateway) -> None:
    bundle = {"provisions": [{"designation_id": "G-ESI", "organ_id": "MOD", "from": "2026-02-01", "until": None}]}
    result = registry.import_bundle(bundle)
    assert result["created"]["provisions"] == 1
    assert registry.codes("P-MOD", "D-ESI") == []
    assert registry.import_bundle(bundle)["changed"] is False  # the same bundle twice is a no-op
    bad = {"provisions": [{"designation_id": "G-ESI", "organ_id": "METI", "from": "2026-02-01"}]}
    response = registry.client.post("/v1/admin/registry/import", json=bad, headers=registry.keys.auth(ADMIN))
    assert response.status_code == 422
    assert any(e["pointer"] == "/provisions/0/organ_id" for e in response.json()["errors"]), response.json()


def test_c5a_a_logged_allow_names_the_provision_it_rested_on(registry: Gateway) -> None:
    assert call(registry, "PUT", "/provisions/G-ESI/MOD").status_code == 201
    decision_id = registry.evaluate("P-MOD", "D-ESI")["context"]["decision_id"]
    record = registry.client.get(f"/v1/audit/decisions/{decision_id}", headers=registry.keys.auth("audit:read"))
    assert record.status_code == 200, record.text
    assert record.json()["facts"]["provision"] == "G-ESI/MOD"


def test_c5a_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(tmp_path / "documents"))
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "bundle.json").write_text(json.dumps(rules_bundle()))
    assert runner.invoke(cli, ["registry", "import", str(tmp_path / "bundle.json")]).exit_code == 0

    added = runner.invoke(cli, ["registry", "provision", "add", "G-ESI", "MOD", "--from", "2026-01-01"])
    assert added.exit_code == 0, added.output
    assert "G-ESI provided to MOD from 2026-01-01 until further notice" in added.output
    listed = runner.invoke(cli, ["registry", "provisions", "--organ", "MOD"])
    assert "G-ESI" in listed.output and "2026-01-01" in listed.output
    as_json = json.loads(runner.invoke(cli, ["registry", "provisions", "--json"]).output)
    assert as_json == [{"designation_id": "G-ESI", "organ_id": "MOD", "from": "2026-01-01", "until": None}]
    ended = runner.invoke(cli, ["registry", "provision", "end", "G-ESI", "MOD"])
    assert ended.exit_code == 0, ended.output
    assert "no longer provided to MOD" in ended.output
    again = runner.invoke(cli, ["registry", "provision", "end", "G-ESI", "MOD"])
    assert again.exit_code != 0 and "not provided to organ 'MOD'" in (again.stderr or again.output)
