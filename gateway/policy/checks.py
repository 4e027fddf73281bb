"""The policy files' static checks: the model's shape, every row's fields, rules that use only the
attributes the gateway provides and parse as the Python Casbin evaluates, the gateway's own rows.
Each problem names its file and line; `files.load_policy` refuses a policy with any."""

from __future__ import annotations

import ast
import re

from gateway.decision.calendar import PERIOD_READINGS
from gateway.decision.policy import (
    ALL_ACTIONS,
    ATTRIBUTE,
    GRANT,
    PROVIDED,
    SCHEMES,
    TIERS,
    PolicyProblem,
    Row,
    as_python,
)
from gateway.decision.policy_clearance import (
    check_conflict_row,
    check_exempt_row,
    check_override_row,
    widening_problems,
)
from gateway.decision.policy_context import (
    GATEWAY_ROWS,
    LOCAL_PREFIX,
    check_ctx_row,
    check_reason_row,
)
from gateway.decision.policy_registry import check_category_row, check_limit_row, registry_rules
from gateway.decision.reasons import REASON_CODES
from gateway.policy.casbin_rules import ModelShape


def check_model(model: ModelShape, text: str) -> list[PolicyProblem]:
    problems = []
    expected = {
        "r": (["r_sub", "r_obj", "r_act", "r_ctx", "r_probe"], ["r_sub", "r_obj", "r_act", "r_probe"]),
        "p": (["p_eft", "p_act", "p_rule", "p_reason"],),
    }
    for key, shapes in expected.items():
        tokens = model.tokens(key)
        if tokens is None or list(tokens) not in shapes:
            names = ", ".join(t.split("_", 1)[1] for t in shapes[0])
            problems.append(model_problem(text, key, f"{key} must be defined as `{key} = {names}`"))
    if model.matcher is None:
        problems.append(PolicyProblem("model.conf", _line_of(text, "[matchers]"), "the matcher `m` is missing"))
    elif "r_probe" not in model.matcher:
        problems.append(model_problem(text, "m", "the matcher must filter rows by r.probe, as the shipped one does"))
    return problems


def model_problem(text: str, key: str, message: str) -> PolicyProblem:
    """A problem with model.conf, at the line that defines `key` (or the first line)."""
    return PolicyProblem("model.conf", _line_of(text, re.compile(rf"^\s*{re.escape(key)}\s*=")), message)


def _line_of(text: str, what: str | re.Pattern[str]) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if what.search(line) if isinstance(what, re.Pattern) else what in line:
            return number
    return 1


def check_rows(rows: list[Row], model: ModelShape) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    seen: dict[tuple[str, tuple[str, ...]], Row] = {}
    declared = {r.values[0] for r in rows if r.ptype == "ctx" and r.values}
    local = {r.values[0] for r in rows if r.ptype == "reason" and r.values}
    for row in rows:

        def bad(message: str, row: Row = row) -> None:
            problems.append(PolicyProblem(row.file, row.line, message))

        if row.ptype in GATEWAY_ROWS:
            if row.ptype == "ctx" and not model.has_ctx:
                bad("a context attribute needs the request `r = sub, obj, act, ctx, probe` in model.conf")
            for message in _GATEWAY_CHECKS[row.ptype](row.values):
                bad(message)
            key = row.values if row.ptype == "exempt" else row.values[: 2 if row.ptype in ("category", "limit") else 1]
            if (row.ptype, key) in seen:
                bad(f"{', '.join(key)} is declared twice")
            seen[(row.ptype, key)] = row
            continue
        known = model.tokens(row.ptype) if row.ptype[:1] in ("p", "g") else None
        if known is None:
            bad(f"`{row.ptype}` is not a section of model.conf")
            continue
        if len(row.values) != len(known):
            bad(f"`{row.ptype}` rows have {len(known)} fields, this one has {len(row.values)}")
            continue
        if (row.ptype, row.values) in seen:
            first = seen[(row.ptype, row.values)]
            bad(f"duplicate of {first.file}:{first.line}")
            continue
        seen[(row.ptype, row.values)] = row
        if row.ptype == "p":
            for message in _check_p(row.values, declared, local):
                bad(message)
            continue
        check = _ROW_CHECKS.get(row.ptype)
        if check:
            for message in check(row.values):
                bad(message)
    for widening, message in widening_problems(rows):
        problems.append(PolicyProblem(widening.file, widening.line, message))
    if not problems:
        for _, message in registry_rules(rows)[1]:
            problems.append(PolicyProblem("designations.csv" if "limit" in message else "categories.csv", 1, message))
    return problems


def _check_p(values: tuple[str, ...], context: set[str], local: set[str]) -> list[str]:
    eft, act, rule, reason = values
    problems = []
    if eft not in ("allow", "deny"):
        problems.append(f"effect must be allow or deny, not {eft!r}")
    if eft == "allow" and reason != GRANT:
        problems.append(f"an allow row takes `{GRANT}` as its reason, not {reason!r}")
    if eft == "deny" and reason.startswith(LOCAL_PREFIX) and reason not in local:
        problems.append(f"{reason!r} is not declared: add `reason, {reason}, <message>` to a policy file")
    elif eft == "deny" and not reason.startswith(LOCAL_PREFIX) and reason not in _DENY_CODES:
        problems.append(f"unknown reason code {reason!r}: use one of api.md's codes, or declare a local: one")
    if eft == "allow" and act == ALL_ACTIONS:
        problems.append("an allow row must name its action: `*` would grant every action, known or not")
    problems += check_rule(rule, context)
    return problems


def check_rule(rule: str, context: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Static checks of one rule: Python-level syntax and only the attributes the gateway provides."""
    problems = []
    provided = {**PROVIDED, "ctx": frozenset({"channel", *context})}
    for match in ATTRIBUTE.finditer(rule):
        obj, attr = match.group(1), match.group(2)
        if obj == "act" and attr is None:
            continue
        if obj not in provided or attr is None:
            problems.append(f"`{match.group(0)}` is not an attribute the gateway provides")
        elif attr not in provided[obj]:
            choices = ", ".join(sorted(provided[obj]))
            problems.append(f"unknown attribute `r.{obj}.{attr}`; r.{obj} provides: {choices}")
    try:
        ast.parse(as_python(rule), mode="eval")
    except SyntaxError as exc:
        problems.append(f"rule does not parse: {exc.msg}")
    return problems


def _check_p2(values: tuple[str, ...]) -> list[str]:
    scheme, years, reading = values
    problems = []
    if scheme not in SCHEMES:
        problems.append(f"unknown scheme {scheme!r}; expected esi or sds")
    if not years.isdigit() or not 1 <= int(years) <= 50:
        problems.append(f"validity years must be a whole number from 1 to 50, not {years!r}")
    if reading not in PERIOD_READINGS:
        problems.append(f"unknown period reading {reading!r}; expected one of {', '.join(PERIOD_READINGS)}")
    return problems


def _check_g(values: tuple[str, ...]) -> list[str]:
    scheme, tier = values
    if scheme not in SCHEMES or tier not in TIERS:
        return [f"`g, {scheme}, {tier}`: both sides must be a scheme (esi or sds)"]
    return []


def _check_g2(values: tuple[str, ...]) -> list[str]:
    office, role = values
    if role != "exempt":
        return [f"`g2` rows read `g2, <office>, exempt`; {role!r} means nothing to the gateway"]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", office):
        return [f"office {office!r} must be a lower-case identifier such as minister_of_state"]
    return []


_DENY_CODES = frozenset(REASON_CODES) - {"action_not_permitted"}  # that one is the gateway's own


_ROW_CHECKS = {"p2": _check_p2, "g": _check_g, "g2": _check_g2}
_GATEWAY_CHECKS = {
    "ctx": check_ctx_row,
    "reason": check_reason_row,
    "conflict": check_conflict_row,
    "override": check_override_row,
    "exempt": check_exempt_row,
    "category": check_category_row,
    "limit": check_limit_row,
}
