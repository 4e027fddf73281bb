"""Deeper checks of a loaded policy: rules that can never match, reason codes no rule can produce.

Every rule is a boolean formula over a finite set of attributes, so it is checked exhaustively: each
rule is compiled once to Python (the same translation Casbin makes) and tried on every attribute
vector (about 74,000). A rule that calls a function (g(), keyMatch(), ...) is not enumerated.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.decision.policy import (
    FLAGS,
    ObjectAttributes,
    Policy,
    PolicyProblem,
    Row,
    SubjectAttributes,
    as_python,
    subject,
)
from gateway.decision.reasons import REASON_CODES
from gateway.policy.files import load_policy, read_rows

_KINDS = ("government", "contractor", "")
_TIERS = ("esi", "sds", "unclassified", "")


@dataclass(frozen=True)
class CheckReport:
    policy: Policy | None
    errors: list[PolicyProblem]
    warnings: list[PolicyProblem]


def _subjects() -> Iterator[SubjectAttributes]:
    for known, kind in itertools.product((True, False), _KINDS):
        for flags in itertools.product((True, False), repeat=len(FLAGS)):
            yield subject(kind, known=known, **dict(zip(FLAGS, flags, strict=True)))


def _objects() -> Iterator[ObjectAttributes]:
    for known, classified, tier, in_force in itertools.product((True, False), (True, False), _TIERS, (True, False)):
        yield ObjectAttributes(known, classified, tier, in_force)


def _compile(rule: str):
    return compile(as_python(rule), "<rule>", "eval")


def can_match(rule: str, actions: list[str]) -> bool | None:
    """True if some attribute vector satisfies the rule; None when it calls functions or reads the
    request context (free values: not enumerated)."""
    if re.search(r"\w\s*\(", rule.replace("r.sub", "").replace("r.obj", "")) or "r.ctx" in rule:
        return None
    code = _compile(rule)
    objects = list(_objects())
    for action in actions:
        for sub in _subjects():
            for obj in objects:
                if eval(code, {"__builtins__": {}}, {"r_sub": sub, "r_obj": obj, "r_act": action}):  # noqa: S307
                    return True
    return False


def check(directory: Path) -> CheckReport:
    from gateway.decision.policy import PolicyError

    try:
        policy = load_policy(directory)
    except PolicyError as exc:
        return CheckReport(None, exc.problems, [])
    warnings: list[PolicyProblem] = []
    rows: list[Row] = [r for r in read_rows(directory, []) if r.ptype == "p"]
    actions = sorted(policy.actions) + ["\x00unknown"]
    for row in rows:
        eft, act, rule, reason = row.values
        matched = can_match(rule, actions if act == "*" else [act])
        if matched is False:
            what = f"deny row for {reason}" if eft == "deny" else f"allow row for {act!r}"
            warnings.append(PolicyProblem(row.file, row.line, f"this {what} can never match"))
    for row in read_rows(directory, []):
        if row.ptype == "g2" and len(row.values) == 2:
            office = row.values[0]
            message = f"`g2, {office}, exempt` is read as `exempt, {office}, own, *` (C8); write that row instead"
            warnings.append(PolicyProblem(row.file, row.line, message))
    produced = set(policy.deny_codes) | {"action_not_permitted"}
    denies = [r for r in rows if r.values[0] == "deny"]
    where = denies[-1] if denies else Row("p", (), "model.conf", 1)  # where another deny row would go
    for code in REASON_CODES:
        if code not in produced:
            warnings.append(PolicyProblem(where.file, where.line, f"no deny row produces {code}; api.md lists it"))
    return CheckReport(policy, [], warnings)
