"""Every rule of the domain the policy encodes, at its edges: the policy's own suites (policy/tests/*.yaml,
92 cases on the registry of policy/tests/registry.yaml) decided by the pure core, one pytest case each,
in milliseconds; then a few of them again through the real API on both databases, which must agree.

A suite case names who asks for what, at which instant, and the exact decision and reason codes; the
suites are the one list (`clearance-gateway policy test` runs the same cases, and a reload refuses a
policy that fails them).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.policy.files import load_policy
from gateway.policy.suites import Case, CaseResult, Suite, _yaml, run_suite, suite_files
from tests.conftest import BACKENDS
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway, Keys, fresh_database, running_gateway

SUITES = POLICY_DIR / "tests"
ZONE = ZoneInfo("Asia/Tokyo")
T0 = "2026-06-01T12:00:00+09:00"


def _suite(name: str) -> Suite:
    return Suite.model_validate(_yaml((SUITES / name).read_text(encoding="utf-8")))


CASES = [
    pytest.param(path.name, case.name, id=f"{path.stem}: {case.name}")
    for path in suite_files(SUITES)
    for case in _suite(path.name).cases
]


@cache
def _results(name: str) -> dict[str, CaseResult]:
    result = run_suite(SUITES / name, load_policy(POLICY_DIR), ZONE)
    assert result.error is None, result.error
    return {case.name: case for case in result.cases}


@pytest.mark.parametrize(("file", "name"), CASES)
def test_rule(file: str, name: str) -> None:
    result = _results(file)[name]
    assert result.passed, f"expected: {result.expected}\ngot:      {result.actual}\n" + "\n".join(result.messages)


def test_the_suites_are_the_rule_cases_and_cover_every_edge_the_domain_names() -> None:
    assert len(CASES) >= 92
    names = " ".join(str(param.values[1]) for param in CASES)
    for rule in ("B1", "B2", "B3", "B4", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "D3", "N1"):
        assert f"{rule}:" in names or f"{rule}/" in names, rule


# Through the API: cases of the suites whose registry is the shared one, chosen to cross every layer once
# (an allow, every code at once, an instant read in Japan time, a contractor, a suspension, an action).
API_CASES = [
    ("basics.yaml", "staff with ESI clearance on the roster"),
    ("basics.yaml", "print is not an action the shipped policy grants"),
    ("validity.yaml", "C3: 15:30Z is 2035-06-02 00:30 JST"),
    ("validity.yaml", "C3: leap day, denied from 2038-03-01"),
    ("contractors.yaml", "B3: the day after, every employee loses access"),
    ("clearance.yaml", "C7: suspended pending re-assessment"),
    ("rosters.yaml", "N1: not after it"),
]


def _case(file: str, name: str) -> Case:
    suite = _suite(file)
    assert suite.registry == "registry.yaml" and not suite.with_, f"{file} runs on another registry"
    return next(case for case in suite.cases if case.name == name)


@pytest.fixture(scope="module", params=BACKENDS)
def rules(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Gateway]:
    directory: Path = tmp_path_factory.mktemp(f"rules-{request.param}")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys) as gw:
        gw.import_bundle(rules_bundle())
        yield gw


@pytest.mark.parametrize(("file", "name"), API_CASES, ids=[name for _, name in API_CASES])
def test_rule_through_the_api(rules: Gateway, file: str, name: str) -> None:
    case = _case(file, name)
    answer = rules.evaluate(case.subject, case.resource, case.action, case.at.isoformat())
    codes = [r["code"] for r in answer["context"]["reasons"]]
    assert answer["decision"] is (case.expect == "allow"), answer
    assert codes == case.reasons, answer
    assert all(r["message"] for r in answer["context"]["reasons"])
    assert answer["context"]["simulation"] is True
    assert _results(file)[name].passed  # and the core agrees


def test_messages_name_the_facts(rules: Gateway) -> None:
    body = {"subject": {"type": "person", "id": "P-OK"}, "resource": {"type": "document", "id": "D-LONG"},
            "action": {"name": "read"}, "context": {"time": "2035-06-02T00:00:00+09:00"}}
    admin = rules.keys.auth("authz:evaluate", "authz:simulate", "registry:admin")  # C9: an administrator
    [reason] = rules.client.post("/access/v1/evaluation", json=body, headers=admin).json()["context"]["reasons"]
    assert reason["message"] == "ESI assessment A-OK by METI notified 2025-06-01 ran out on 2035-06-01"
    [reason] = rules.evaluate("P-OK", "D-CAN", at=T0)["context"]["reasons"]
    assert "cancelled with effect from 2026-04-01" in reason["message"]
    [reason] = rules.evaluate("P-MOD", "D-ESI", at=T0)["context"]["reasons"]
    assert "P-MOD serves MOD" in reason["message"] and "C5" in reason["message"]


def test_the_clock_decides_without_context_time(rules: Gateway) -> None:
    rules.clock.set("2035-06-01T15:30:00+00:00")  # 2035-06-02 00:30 in Japan
    answer = rules.evaluate("P-OK", "D-LONG")
    assert [r["code"] for r in answer["context"]["reasons"]] == ["clearance_expired"]
    assert "simulation" not in answer["context"]
    rules.clock.set("2035-06-01T14:59:59+00:00")  # the anniversary's last second in Japan
    answer = rules.evaluate("P-OK", "D-LONG")
    assert answer["decision"] is True
