"""The policy files read, checked and compiled: `load_policy(directory)` gives a `Policy` or raises
`PolicyError` with every problem by file and line. A policy loads only whole: its model and rows are
checked (`checks.py`: known attributes, well-formed rules, the gateway's own rows), compiled into
Casbin (`casbin_rules.py`), then smoke-tested on every kind of request before it may serve."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from gateway.decision.policy import (
    FLAGS,
    SCHEMES,
    TIERS,
    UNKNOWN_SUBJECT,
    ObjectAttributes,
    Policy,
    PolicyError,
    PolicyProblem,
    Row,
    Validity,
    subject,
)
from gateway.decision.policy_clearance import conflicts, exemptions
from gateway.decision.policy_context import context_attribute, local_reason, request_context
from gateway.decision.policy_registry import registry_rules
from gateway.policy.casbin_rules import CasbinRules, ModelError, ModelShape, read_model
from gateway.policy.checks import check_model, check_rows, model_problem


def policy_files(directory: Path) -> list[Path]:
    """The files that make a policy: model.conf and every *.csv beside it, in a stable order."""
    return [directory / "model.conf", *sorted(directory.glob("*.csv"))]


def policy_version(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in policy_files(directory):
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


_COMPILED: dict[str, Policy] = {}  # version -> a policy this process has compiled and smoke-tested
_COMPILED_KEPT = 8
_COMPILED_LOCK = threading.Lock()  # holders of several gateways in one process (tests) may load at once


def load_policy(directory: Path) -> Policy:
    """Read, check and compile the policy in `directory`; raise PolicyError naming every problem.

    Files this process has already compiled (the same hash over every file) are not compiled and
    smoke-tested again: the result is a new `Policy` with the same rules and an empty memo."""
    known = _COMPILED.get(policy_version(directory))
    if known is not None:
        return replace(known, _memo={}, misses=0, loaded_at=datetime.now(UTC))
    policy = _load(directory)
    with _COMPILED_LOCK:
        while len(_COMPILED) >= _COMPILED_KEPT:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[policy.version] = policy  # the version of the files as read: an edit meanwhile is another
    return replace(policy, _memo={}, misses=0)


def _load(directory: Path) -> Policy:
    model_path = directory / "model.conf"
    if not model_path.is_file():
        raise PolicyError([PolicyProblem(str(model_path), 1, "model.conf is missing")])
    text = model_path.read_text(encoding="utf-8")
    problems: list[PolicyProblem] = []
    try:
        model, shape = read_model(model_path)
    except ModelError as exc:
        raise PolicyError([PolicyProblem("model.conf", 1, f"cannot parse the model: {exc}")]) from exc
    problems += check_model(shape, text)
    rows = read_rows(directory, problems)
    problems += check_rows(rows, shape)
    if problems:
        raise PolicyError(problems)
    try:
        rules = CasbinRules(model, rows)
    except ModelError as exc:
        raise PolicyError([model_problem(text, "m", f"Casbin refused the policy: {exc}")]) from exc
    policy = _compile(rules, shape, rows, directory)
    _smoke_test(policy)
    return policy


_NESTING = re.compile(r"[,()\[\]]")
_CLOSES = {")": "(", "]": "["}


def split_row(line: str) -> list[str]:
    """A CSV policy line's fields, split at the commas outside brackets, as Casbin's file adapter
    reads them (`p, allow, read, g(r.sub.kind, "a"), -` has four fields after `p`). Raise ValueError
    on brackets that do not pair: Casbin would read such a line as other fields than were meant."""
    fields, open_, start = [], [], 0
    for match in _NESTING.finditer(line):
        char = match.group()
        if char in "([":
            open_.append(char)
        elif char in ")]":
            if not open_ or open_.pop() != _CLOSES[char]:
                raise ValueError("unbalanced brackets")
        elif not open_:
            fields.append(line[start : match.start()].strip())
            start = match.end()
    if open_:
        raise ValueError("unbalanced brackets")
    fields.append(line[start:].strip())
    return fields


def read_rows(directory: Path, problems: list[PolicyProblem]) -> list[Row]:
    """Every policy row of every *.csv file, with its file and line; unreadable lines go to problems."""
    rows = []
    for path in sorted(directory.glob("*.csv")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                tokens = split_row(text)
            except ValueError as exc:
                problems.append(PolicyProblem(path.name, number, str(exc)))
                continue
            if tokens:
                rows.append(Row(tokens[0], tuple(tokens[1:]), path.name, number))
    return rows


def _compile(rules: CasbinRules, shape: ModelShape, rows: list[Row], directory: Path) -> Policy:
    by_type: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        by_type.setdefault(row.ptype, []).append(row.values)
    p_rows = by_type.get("p", [])
    opens = {tier: frozenset(s for s, t in by_type.get("g", []) if t == tier) for tier in TIERS}
    validity = {scheme: Validity(int(years), reading) for scheme, years, reading in by_type.get("p2", [])}
    missing = [s for s in SCHEMES if s not in validity]
    if missing:
        where = next((r for r in rows if r.ptype == "p2"), None) or (rows[-1] if rows else Row("", (), "model.conf", 1))
        raise PolicyError(
            [PolicyProblem(where.file, where.line, f"no validity period (p2 row) for scheme {s}") for s in missing]
        )
    return Policy(
        rules=rules,
        version=policy_version(directory),
        files=tuple(p.name for p in policy_files(directory)),
        actions=frozenset(act for eft, act, _rule, _reason in p_rows if eft == "allow"),
        opens=opens,
        exemptions=exemptions(rows),
        validity=validity,
        conflicts=conflicts(rows),
        registry=registry_rules(rows)[0],
        deny_codes=tuple(dict.fromkeys(reason for eft, _a, _r, reason in p_rows if eft == "deny")),
        rows=tuple(rows),
        context={r.values[0]: context_attribute(r.values, r.file, r.line) for r in rows if r.ptype == "ctx"},
        local_reasons={r.values[0]: local_reason(r.values, r.file, r.line) for r in rows if r.ptype == "reason"},
        has_ctx=shape.has_ctx,
        loaded_at=datetime.now(UTC),
    )


def _smoke_test(policy: Policy) -> None:
    """Evaluate every rule once on typical attributes so that a runtime error shows at load, not at 3 a.m."""
    samples = [
        (
            subject("government", cleared=True, on_roster=True),
            ObjectAttributes(known=True, classified=True, tier="esi", in_force=True),
        ),
        (
            UNKNOWN_SUBJECT,
            ObjectAttributes(known=False, classified=False, tier="", in_force=False),
        ),
        (
            subject("contractor", **{name: name not in ("exempt", "cleared", "on_roster") for name in FLAGS}),
            ObjectAttributes(known=True, classified=False, tier="unclassified", in_force=False),
        ),
    ]
    contexts = [request_context(policy.context, channel, None) for channel in ("evaluation", "release")]
    for (sub, obj), ctx in itertools.product(samples, contexts):
        for action in sorted(policy.actions) or ["read"]:
            try:
                policy.evaluate_uncached(sub, obj, action, ctx)
            except PolicyError:
                continue  # a deny without a code on a synthetic sample is a gap the policy tests catch
            except Exception as exc:
                row = _failing_row(policy, policy.request(sub, obj, action, ctx))
                raise PolicyError([PolicyProblem(row.file, row.line, f"a rule fails to evaluate: {exc}")]) from exc


def _failing_row(policy: Policy, request: tuple[object, ...]) -> Row:
    """The first p row whose probe (its reason, or `-` for an allow row) raises on this request."""
    p_rows = [r for r in policy.rows if r.ptype == "p"]
    for row in p_rows:
        try:
            policy.rules.allows(request, row.values[3])
        except Exception:
            return row
    return p_rows[0]
