"""Writing bundles (docs/bundle.md): the schema, the example, export, dry runs and one report of every problem.

The schema is generated from models/bundle.py; CI checks here that it validates the example bundle in
docs/examples and the demo's bundle, and that both import cleanly, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.demo import demo_bundle
from gateway.errors import InvalidInput
from gateway.policy.files import load_policy
from gateway.registry.bundles import bundle_schema, dry_run, export_bundle, parse_checked
from gateway.registry.changes import Actor
from models import ChangeEvent, Designation
from tests.support import POLICY_DIR, REPO, Gateway

EXAMPLE = REPO / "docs" / "examples" / "bundle.json"
runner = CliRunner()

RULES = load_policy(POLICY_DIR).registry


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems(engine: Any, bundle: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        parse_checked(engine, json.dumps(bundle), RULES)
    return {e.path: e.detail for e in refused.value.errors}


def change_events(gateway: Gateway) -> int:
    with gateway.container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ChangeEvent)).scalar_one()


@pytest.mark.parametrize("bundle", [example(), demo_bundle(date(2026, 11, 23))], ids=["example", "demo"])
def test_schema_validates_the_example_and_the_demo_bundle(bundle: dict[str, Any]) -> None:
    schema = bundle_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(bundle)


def test_schema_refuses_what_the_import_refuses() -> None:
    validator = jsonschema.Draft202012Validator(bundle_schema())
    wrong = example()
    wrong["persons"][0]["kind"] = "visitor"
    wrong["organs"][0]["motto"] = "unknown fields are refused"
    messages = sorted(e.json_path for e in validator.iter_errors(wrong))
    assert messages == ["$.organs[0]", "$.persons[0].kind"]


def test_registry_schema_command_prints_the_schema() -> None:
    result = runner.invoke(app, ["registry", "schema"], prog_name="clearance-gateway")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == bundle_schema()


def test_example_bundle_imports_and_export_round_trips(gateway: Gateway) -> None:
    answer = gateway.import_bundle(example())
    assert answer["changed"] and answer["created"]["documents"] == 2
    exported = export_bundle(gateway.container.engine)
    assert [p["id"] for p in exported["persons"]] == ["P-0001", "P-0002", "P-0003", "P-0004"]
    assert "content_base64" not in exported["documents"][0]
    assert exported["contracts"][0]["designation_ids"] == ["G-0001"]
    assert exported["rosters"][0] == {"designation_id": "G-0001", "person_id": "P-0001", "from": "2025-06-01",
                                      "until": None}
    again = gateway.import_bundle(exported)
    assert again["changed"] is False
    with_contents = export_bundle(gateway.container.engine, gateway.container.store)
    assert with_contents["documents"][1]["content_base64"] == example()["documents"][1]["content_base64"]


def test_dry_run_lists_every_change_and_writes_nothing(gateway: Gateway) -> None:
    gateway.import_bundle(example())
    before = change_events(gateway)
    changed = example()
    changed["designations"][0]["expires_on"] = "2031-05-31"
    changed["organs"].append({"id": "MIC", "name": "Ministry of Internal Affairs and Communications"})
    bundle = parse_checked(gateway.container.engine, json.dumps(changed), RULES)
    result = dry_run(gateway.container.engine, bundle, Actor("dry"), RULES)
    assert [(c["entity"], c["entity_id"], c["before"] is None) for c in result.changes] == [
        ("organ", "MIC", True),
        ("designation", "G-0001", False),
    ]
    assert result.changes[1]["after"] == {"expires_on": date(2031, 5, 31)}
    assert change_events(gateway) == before
    with gateway.container.engine.connect() as conn:
        expiry = conn.execute(select(Designation.expires_on).where(Designation.id == "G-0001")).scalar_one()
    assert expiry == date(2030, 5, 31)


def test_one_report_holds_shape_and_reference_errors(gateway: Gateway) -> None:
    broken = example()
    broken["persons"][0]["kind"] = "visitor"  # shape
    broken["persons"][1]["operator_id"] = "ACM"  # reference
    broken["assessments"][1]["organ_id"] = "METX"  # reference, after a section with a shape error
    assert problems(gateway.container.engine, broken) == {
        "$.persons[0].kind": "Input should be 'government' or 'contractor'",
        "$.persons[1].operator_id": "unknown operator 'ACM'",
        "$.assessments[1].organ_id": "unknown organ 'METX'",
    }


def test_reference_to_an_entry_refused_for_its_shape_is_not_reported_again(gateway: Gateway) -> None:
    broken = example()
    broken["persons"][0]["kind"] = "visitor"  # P-0001, which an assessment and a roster entry name
    assert list(problems(gateway.container.engine, broken)) == ["$.persons[0].kind"]


def test_b1_check_digit_error_says_which_digit_was_expected(gateway: Gateway) -> None:
    broken = example()
    broken["operators"][0]["corporate_number"] = "1000012050002"
    admin = gateway.keys.auth("registry:admin")
    response = gateway.client.post("/v1/admin/registry/import", json=broken, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "pointer": "/operators/0/corporate_number",
            "path": "$.operators[0].corporate_number",
            "detail": "invalid corporate number: its check digit is 1, 7 was expected (B1)",
        }
    ]


def test_cli_import_dry_run_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(tmp_path / "documents"))
    monkeypatch.setenv("COLUMNS", "100")

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), prog_name="clearance-gateway")

    preview = run("registry", "import", str(EXAMPLE), "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "designation G-0001" in preview.stdout and "Dry run: nothing was written." in preview.stdout
    assert "development" not in preview.stdout  # the key warnings go to stderr
    exported = run("registry", "export")
    assert json.loads(exported.stdout)["persons"] == []  # the dry run wrote nothing
    assert run("registry", "import", str(EXAMPLE)).exit_code == 0
    out = tmp_path / "export.json"
    assert run("registry", "export", "--out", str(out)).exit_code == 0
    again = run("registry", "import", str(out))
    assert again.exit_code == 0 and "(nothing changed)" in again.stdout
