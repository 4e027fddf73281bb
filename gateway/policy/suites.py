"""Policy tests as files: registry fixtures, a frozen time, a request, the expected decision and reasons.

A suite is a YAML file in policy/tests/:

    suite: C3 validity windows
    registry: registry.yaml        # optional: a shared bundle (YAML or JSON), relative to this file
    with: {persons: [...]}         # optional: more entries, same shape as a registry bundle
    cases:
      - name: valid through the anniversary
        at: "2035-06-01T23:59:59+09:00"
        subject: P-OK
        resource: D-LONG
        action: read               # default: read
        expect: allow              # or deny, with the exact reasons:
        reasons: []                # e.g. [clearance_expired]

Files whose name starts with an underscore, and the shared registry files, are not suites.
"""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET  # noqa: S405  (we write XML, never parse untrusted XML)
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.decision.calendar import local_day
from gateway.decision.engine import decide
from gateway.decision.policy import Policy, PolicyProblem
from gateway.decision.policy_context import LOCAL_PREFIX, request_context
from gateway.decision.reasons import REASON_CODES
from gateway.registry.loading import snapshot_from_bundle
from models.bundle import Bundle


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    at: datetime
    subject: str
    resource: str
    action: str = "read"
    channel: str = Field(default="evaluation", pattern="^(evaluation|release)$")
    context: dict[str, Any] = Field(default_factory=dict)  # the request's context, e.g. {terminal: T-0101}
    expect: str = Field(pattern="^(allow|deny)$")
    reasons: list[str] = Field(default_factory=list)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2035-06-01T23:59:59+09:00")
        return value

    @field_validator("reasons")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in REASON_CODES and not c.startswith(LOCAL_PREFIX)]
        if unknown:
            raise ValueError(f"unknown reason codes {unknown}; api.md lists {', '.join(REASON_CODES)}")
        return value


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suite: str
    registry: str | None = None
    with_: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, alias="with")
    cases: list[Case]


@dataclass
class CaseResult:
    name: str
    passed: bool
    expected: str
    actual: str
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class SuiteResult:
    file: str
    name: str
    cases: list[CaseResult] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> int:
        return sum(not c.passed for c in self.cases) + (1 if self.error else 0)


def _yaml(text: str) -> Any:
    """YAML through libyaml when it is there (ten times faster: a reload runs every suite)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)


def suite_files(directory: Path) -> list[Path]:
    shared = set()
    files = sorted(p for p in directory.glob("*.y*ml") if not p.name.startswith("_"))
    for path in files:
        try:
            data = _yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and isinstance(data.get("registry"), str):
            shared.add((path.parent / data["registry"]).resolve())
    return [p for p in files if p.resolve() not in shared]


def _outcome(allowed: bool, codes: list[str]) -> str:
    return "allow" if allowed else "deny " + ", ".join(codes)


def run_suite(path: Path, policy: Policy, zone: ZoneInfo) -> SuiteResult:
    result = SuiteResult(path.name, path.stem)
    try:
        raw = _yaml(path.read_text(encoding="utf-8"))
        suite = Suite.model_validate(raw)
        result.name = suite.suite
        bundle = _bundle(path, suite)
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as exc:
        result.error = f"{path.name}: {exc}"
        return result
    snapshot = snapshot_from_bundle(bundle)
    for case in suite.cases:
        started = time.perf_counter()
        ctx = request_context(policy.context, case.channel, case.context)
        facts = snapshot.facts(case.subject, case.resource)
        decision = decide(facts, case.action, local_day(case.at, zone), policy, ctx)
        reasons = sorted(case.reasons, key=lambda c: policy.code_order(c) if c in _known(policy) else 999)
        expected = _outcome(case.expect == "allow", reasons)
        actual = _outcome(decision.allowed, list(decision.codes))
        result.cases.append(
            CaseResult(
                case.name,
                expected == actual,
                expected,
                actual,
                [f"{r.code}: {r.message}" for r in decision.reasons],
                time.perf_counter() - started,
            )
        )
    return result


def _known(policy: Policy) -> set[str]:
    return {*REASON_CODES, *policy.local_reasons}


def suites_digest(directory: Path) -> str:
    """A hash of every file in the suites' folder (suites and the registries they name)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*")) if directory.is_dir() else []:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def gate(directory: Path, policy: Policy, zone: ZoneInfo) -> list[PolicyProblem]:
    """A policy's own suites (DIR/tests) as load problems: a policy that fails them does not serve."""
    problems = []
    for suite in run_all(directory / "tests", policy, zone):
        where = f"tests/{suite.file}"
        if suite.error:
            problems.append(PolicyProblem(where, 1, f"the suite cannot run: {suite.error}"))
        text = (directory / "tests" / suite.file).read_text(encoding="utf-8") if suite.cases else ""
        for case in suite.cases:
            if not case.passed:
                message = f"policy test {case.name!r}: expected {case.expected}, got {case.actual}"
                problems.append(PolicyProblem(where, _case_line(text, case.name), message))
    return problems


def _case_line(text: str, name: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if "name:" in line and name in line:
            return number
    return 1


def _bundle(path: Path, suite: Suite) -> Bundle:
    data: dict[str, list[Any]] = {}
    if suite.registry:
        shared = _yaml((path.parent / suite.registry).read_text(encoding="utf-8")) or {}
        data = {k: list(v) for k, v in shared.items()}
    for key, entries in suite.with_.items():
        data.setdefault(key, []).extend(entries)
    for document in data.get("documents", []):
        document.setdefault("content_base64", "")
    for section, entries in data.items():  # `with:` adds; it never silently stands in for a shared entry
        ids = [e.get("id") for e in entries if isinstance(e, dict) and "id" in e]
        twice = sorted({str(i) for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"{section}: the id(s) {', '.join(map(str, twice))} appear more than once")
    return Bundle.model_validate(data)


def run_all(directory: Path, policy: Policy, zone: ZoneInfo) -> list[SuiteResult]:
    return [run_suite(path, policy, zone) for path in suite_files(directory)]


def junit_xml(results: list[SuiteResult], policy_version: str) -> bytes:
    root = ET.Element("testsuites", name="clearance-gateway policy tests")
    for suite in results:
        node = ET.SubElement(
            root,
            "testsuite",
            name=suite.name,
            file=suite.file,
            tests=str(len(suite.cases)),
            failures=str(suite.failed),
            errors="0",
        )
        ET.SubElement(ET.SubElement(node, "properties"), "property", name="policy_version", value=policy_version)
        if suite.error:
            case = ET.SubElement(node, "testcase", name="load", classname=suite.file)
            ET.SubElement(case, "failure", message=suite.error)
        for result in suite.cases:
            case = ET.SubElement(node, "testcase", name=result.name, classname=suite.file, time=f"{result.seconds:.6f}")
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=f"expected {result.expected}, got {result.actual}")
                failure.text = "\n".join(result.messages)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
