"""C4, C6, C7 and the SDS Act in the policy files: which result stands when schemes disagree
(`conflict` rows), and the mark a row widening SDS to ESI clearances needs (`override` rows).

The cases run on the registry of policy/tests/conflicts.yaml, decided by the pure core."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.decision.engine import decide
from gateway.decision.policy import PolicyError
from gateway.policy import suites
from gateway.policy.files import load_policy
from gateway.registry.loading import snapshot_from_bundle
from gateway.registry.snapshot import RegistrySnapshot
from tests.support import POLICY_DIR

runner = CliRunner()
DAY = date(2026, 6, 1)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, target)
    return target


@pytest.fixture(scope="module")
def registry() -> RegistrySnapshot:
    path = POLICY_DIR / "tests" / "conflicts.yaml"
    suite = suites.Suite.model_validate(suites._yaml(path.read_text(encoding="utf-8")))
    return snapshot_from_bundle(suites._bundle(path, suite))


def codes(snapshot: RegistrySnapshot, policy_dir: Path, person: str, document: str) -> list[str]:
    decision = decide(snapshot.facts(person, document), "read", DAY, load_policy(policy_dir))
    return list(decision.codes) if not decision.allowed else []


def _set(policy: Path, old: str, new: str) -> None:
    path = policy / "clearance.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_c6_the_shipped_rows_let_no_valid_clearance_outweigh_an_adverse_result(registry: RegistrySnapshot) -> None:
    assert codes(registry, POLICY_DIR, "P-CF-ESIREV", "D-ESI") == ["clearance_revoked"]
    assert codes(registry, POLICY_DIR, "P-CF-SDSREV", "D-ESI") == ["clearance_revoked"]
    facts = registry.facts("P-CF-ESIREV", "D-ESI")
    message = decide(facts, "read", DAY, load_policy(POLICY_DIR)).reasons[0].message
    assert message == (
        "ESI assessment A-CF-1E by METI was revoked (C7); the valid SDS assessment A-CF-1S does not stand in "
        "for it (C6; policy: conflict, esi, strictest)"
    )


def test_c6_own_result_stands_lets_a_valid_esi_clearance_outlive_an_sds_revocation_but_never_the_bridge(
    registry: RegistrySnapshot, policy_copy: Path
) -> None:
    _set(policy_copy, "conflict, esi, strictest", "conflict, esi, own_result_stands")
    assert codes(registry, policy_copy, "P-CF-SDSREV", "D-ESI") == []  # the SDS revocation no longer closes ESI
    assert codes(registry, policy_copy, "P-CF-SDSUNF", "D-ESI") == []
    assert codes(registry, policy_copy, "P-CF-ESIREV", "D-ESI") == ["clearance_revoked"]  # the bridge still yields
    assert codes(registry, policy_copy, "P-CF-ESISUS", "D-ESI") == ["clearance_suspended"]
    assert codes(registry, policy_copy, "P-CF-ESIUNF", "D-ESI") == ["clearance_missing"]
    assert codes(registry, policy_copy, "P-CF-SDSREV", "D-SDS") == ["clearance_revoked", "clearance_insufficient"]


def test_c6_without_a_conflict_row_the_stricter_result_stands(registry: RegistrySnapshot, policy_copy: Path) -> None:
    _set(policy_copy, "conflict, esi, strictest\n", "")
    assert load_policy(policy_copy).conflicts["esi"] == "strictest"
    assert codes(registry, policy_copy, "P-CF-SDSREV", "D-ESI") == ["clearance_revoked"]


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            "g, sds, esi\n",
            "g, sds, esi\ng, esi, sds\n",
            "`g, esi, sds` lets an ESI clearance open SDS information, which the SDS Act forbids; if this is really "
            "meant, add `override, esi, sds, <why>`",
        ),
        ("conflict, esi, strictest", "conflict, esi, any_valid_clearance", "a bridge never overrides"),
        ("conflict, esi, strictest", "conflict, top, strictest", "unknown tier 'top'"),
        ("conflict, esi, strictest", "conflict, esi, strictest\noverride, sds, esi, a reason", "marks nothing"),
        ("conflict, esi, strictest", "conflict, esi, strictest\nconflict, esi, own_result_stands", "declared twice"),
    ],
)
def test_policy_check_refuses_a_widening_or_an_unknown_conflict_rule(
    policy_copy: Path, old: str, new: str, says: str
) -> None:
    _set(policy_copy, old, new)
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert result.exit_code == 1, result.output
    assert "clearance.csv:" in result.output and says in " ".join(result.output.split())
    with pytest.raises(PolicyError):  # a reload refuses it too: the running policy stays
        load_policy(policy_copy)


def test_a_widening_marked_as_meant_passes_the_check(registry: RegistrySnapshot, policy_copy: Path) -> None:
    _set(policy_copy, "g, sds, esi\n", "g, sds, esi\ng, esi, sds\noverride, esi, sds, transitional order 2026-12\n")
    result = runner.invoke(app, ["policy", "check", str(policy_copy)])
    assert result.exit_code == 0, result.output
    assert codes(registry, policy_copy, "P-OK", "D-SDS") == []  # P-OK: ESI clearance only, on G-SDS's roster
