"""D2 and D4 as policy data: the designation limits (policy/designations.csv) and the catalogue of
categories (policy/categories.csv), versioned with the policy, checked by `policy check`, printed by
`policy show`, and applied by import and the admin API alike."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.decision.policy import PolicyError
from gateway.policy.files import load_policy
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway

runner = CliRunner()
ADMIN = "registry:admin"
RULES = load_policy(POLICY_DIR).registry


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("tests"))
    return target


@pytest.fixture
def registry(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    return gateway


def designation(**fields: Any) -> dict[str, Any]:
    base = {"id": "G-NEW", "organ_id": "METI", "scheme": "esi", "category": "supply-chain", "summary": "s"}
    return {**base, "designated_on": "2026-01-01", "expires_on": "2030-12-31", **fields}


def post(gw: Gateway, bundle: dict[str, Any]) -> Any:
    return gw.client.post("/v1/admin/registry/import", json=bundle, headers=gw.keys.auth(ADMIN))


# --- D4: the catalogue ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "category", "ok"),
    [
        ("esi", "supply-chain", True),
        ("esi", "supply-chain/semiconductors", True),  # a finer item under a catalogue id
        ("esi", "infrastructure/vulnerabilities", True),
        ("esi", "defence", False),  # an SDS field is not an ESI category
        ("sds", "supply-chain", False),
        ("sds", "terrorism", True),
        ("esi", "space", False),
        ("esi", "supply-chainx", False),  # a prefix is an id or a /-item, never part of a word
    ],
)
def test_d4_a_designations_category_is_one_of_its_schemes(scheme: str, category: str, ok: bool) -> None:
    assert (RULES.category_problem(scheme, category) is None) is ok


def test_d4_an_import_names_a_category_outside_the_catalogue(registry: Gateway) -> None:
    response = post(registry, {"designations": [designation(category="defence")]})
    assert response.status_code == 422, response.text
    (error,) = [e for e in response.json()["errors"] if e["pointer"] == "/designations/0/category"]
    assert error["detail"].startswith("'defence' is not an ESI category of the policy's catalogue (D4; categories.csv)")
    assert "infrastructure-and-supply-chain" in error["detail"]
    assert post(registry, {"designations": [designation(category="supply-chain/rare-earths")]}).status_code == 200


def test_d4_the_admin_api_checks_the_category_too(registry: Gateway) -> None:
    body = {k: v for k, v in designation(scheme="sds", category="supply-chain").items() if k != "id"}
    response = registry.client.put("/v1/admin/designations/G-NEW", json=body, headers=registry.keys.auth(ADMIN))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/category"]


# --- D2: the limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "expires_on", "ok"),
    [("esi", date(2030, 12, 31), True), ("esi", date(2031, 1, 1), False), ("sds", date(2031, 1, 1), False)],
)
def test_d2_the_first_period_is_the_policys_five_years(scheme: str, expires_on: date, ok: bool) -> None:
    assert (RULES.first_period_problem(scheme, date(2026, 1, 1), expires_on) is None) is ok


@pytest.mark.parametrize(
    ("scheme", "new_expiry", "ref", "says"),
    [
        ("esi", date(2055, 12, 31), None, None),  # 30 years to the day
        ("esi", date(2056, 1, 1), None, "needs a cabinet_approval_ref"),
        ("esi", date(2056, 1, 1), "CAB-1", None),
        ("esi", date(2086, 1, 1), "CAB-1", None),  # no cap past approval for ESI in the shipped rows
        ("sds", date(2085, 12, 31), "CAB-1", None),  # sixty years to the day
        ("sds", date(2086, 1, 1), "CAB-1", "ends by 2085-12-31, 60 years from designation, even with Cabinet"),
    ],
)
def test_d2_thirty_years_without_the_cabinet_and_sixty_for_sds_with_it(
    scheme: str, new_expiry: date, ref: str | None, says: str | None
) -> None:
    current = date(new_expiry.year - 1, 12, 31)  # an extension of at most a year: only the totals bind
    problem = RULES.extension_problem(scheme, date(2026, 1, 1), current, new_expiry, ref)
    assert problem is None if says is None else says in (problem or ""), problem


def test_d2_the_limits_are_policy_rows_an_organ_changes(policy_copy: Path) -> None:
    path = policy_copy / "designations.csv"
    path.write_text(path.read_text().replace("limit, esi, first_period, 5", "limit, esi, first_period, 3"))
    rules = load_policy(policy_copy).registry
    assert rules.first_period_problem("esi", date(2026, 1, 1), date(2029, 1, 1)) == (
        "the first period may run at most 3 years: through 2028-12-31 at the latest (D2)"
    )
    assert load_policy(policy_copy).version != load_policy(POLICY_DIR).version  # versioned with the policy


@pytest.mark.parametrize(
    ("file", "old", "new", "says"),
    [
        ("designations.csv", "limit, sds, extension, 5\n", "", "no `limit, sds, extension, <years>` row (D2)"),
        ("designations.csv", "limit, esi, extension, 5", "limit, esi, extension, five", "whole number"),
        ("designations.csv", "limit, esi, extension, 5", "limit, esi, stretch, 5", "unknown limit 'stretch'"),
        ("categories.csv", "category, sds, terrorism,", "category, sds, Terror Ism,", "lower-case words"),
        ("categories.csv", "category, esi, supply-chain,", "category, top, supply-chain,", "unknown scheme 'top'"),
    ],
)
def test_policy_check_refuses_a_broken_catalogue_or_limit(
    policy_copy: Path, file: str, old: str, new: str, says: str
) -> None:
    path = policy_copy / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert result.exit_code == 1 and says in " ".join(result.output.split()), result.output
    with pytest.raises(PolicyError):
        load_policy(policy_copy)


def test_policy_show_prints_the_limits_and_the_catalogue() -> None:
    result = runner.invoke(app, ["policy", "show", str(POLICY_DIR)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "an SDS designation runs at most 60 years in all, even with Cabinet approval (D2)" in text
    assert "an ESI designation's first period runs at most 5 years (D2)" in text
    assert "ESI category supply-chain: information specific to the supply chains of critical goods (D4)" in text
