"""The policy files read, checked and compiled: `load_policy(directory)` gives a `Policy` or raises
`PolicyError` with every problem by file and line. A policy loads only whole: its model and rows are
checked (known attributes, well-formed rules, the gateway's own rows), compiled into Casbin, then
smoke-tested on every kind of request before it may serve."""

from __future__ import annotations

import ast
import hashlib
import itertools
import re
from pathlib import Path

import casbin
from casbin.model import Model

from gateway.decision.calendar import PERIOD_READINGS
from gateway.decision.policy import (
    ALL_ACTIONS,
    ATTRIBUTE,
    FLAGS,
    GRANT,
    PROVIDED,
    SCHEMES,
    TIERS,
    UNKNOWN_SUBJECT,
    Enforcer,
    ObjectAttributes,
    Policy,
    PolicyError,
    PolicyProblem,
    Row,
    RowsAdapter,
    Validity,
    as_python,
    subject,
)
from gateway.decision.policy_clearance import (
    check_conflict_row,
    check_exempt_row,
    check_override_row,
    conflicts,
    exemptions,
    widening_problems,
)
from gateway.decision.policy_context import (
    GATEWAY_ROWS,
    LOCAL_PREFIX,
    check_ctx_row,
    check_reason_row,
    context_attribute,
    local_reason,
    request_context,
)
from gateway.decision.policy_registry import check_category_row, check_limit_row, registry_rules
from gateway.decision.reasons import REASON_CODES


def policy_files(directory: Path) -> list[Path]:
    """The files that make a policy: model.conf and every *.csv beside it, in a stable order."""
    return [directory / "model.conf", *sorted(directory.glob("*.csv"))]


def policy_version(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in policy_files(directory):
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def load_policy(directory: Path) -> Policy:
    """Read, check and compile the policy in `directory`; raise PolicyError naming every problem."""
    model_path = directory / "model.conf"
    if not model_path.is_file():
        raise PolicyError([PolicyProblem(str(model_path), 1, "model.conf is missing")])
    text = model_path.read_text(encoding="utf-8")
    problems: list[PolicyProblem] = []
    try:
        model = casbin.Enforcer.new_model(str(model_path))
    except Exception as exc:  # Casbin raises bare errors for a malformed model
        raise PolicyError([PolicyProblem("model.conf", 1, f"cannot parse the model: {exc}")]) from exc
    problems += _check_model(model, text)
    rows = read_rows(directory, problems)
    problems += _check_rows(rows, model)
    if problems:
        raise PolicyError(problems)
    try:
        enforcer = Enforcer(model, RowsAdapter(rows))
    except Exception as exc:
        raise PolicyError([model_problem(text, "m", f"Casbin refused the policy: {exc}")]) from exc
    policy = _compile(enforcer, rows, directory)
    _smoke_test(policy)
    return policy


def _check_model(model: Model, text: str) -> list[PolicyProblem]:
    problems = []
    expected = {
        ("r", "r"): (["r_sub", "r_obj", "r_act", "r_ctx", "r_probe"], ["r_sub", "r_obj", "r_act", "r_probe"]),
        ("p", "p"): (["p_eft", "p_act", "p_rule", "p_reason"],),
    }
    for (sec, key), shapes in expected.items():
        ast_ = model.model.get(sec, {}).get(key)
        if ast_ is None or ast_.tokens not in shapes:
            names = ", ".join(t.split("_", 1)[1] for t in shapes[0])
            problems.append(model_problem(text, key, f"{key} must be defined as `{key} = {names}`"))
    matcher = model.model.get("m", {}).get("m")
    if matcher is None:
        problems.append(PolicyProblem("model.conf", _line_of(text, "[matchers]"), "the matcher `m` is missing"))
    elif "r_probe" not in matcher.value:
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


def read_rows(directory: Path, problems: list[PolicyProblem]) -> list[Row]:
    """Every policy row of every *.csv file, with its file and line; unreadable lines go to problems."""
    from casbin.persist.adapter import _extract_tokens

    rows = []
    for path in sorted(directory.glob("*.csv")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                tokens = _extract_tokens(text)
            except IndexError:
                problems.append(PolicyProblem(path.name, number, "unbalanced brackets"))
                continue
            if tokens:
                rows.append(Row(tokens[0], tuple(tokens[1:]), path.name, number))
    return rows


def _check_rows(rows: list[Row], model: Model) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    seen: dict[tuple[str, tuple[str, ...]], Row] = {}
    declared = {r.values[0] for r in rows if r.ptype == "ctx" and r.values}
    local = {r.values[0] for r in rows if r.ptype == "reason" and r.values}
    has_ctx = "r_ctx" in getattr(model.model.get("r", {}).get("r"), "tokens", [])
    for row in rows:

        def bad(message: str, row: Row = row) -> None:
            problems.append(PolicyProblem(row.file, row.line, message))

        if row.ptype in GATEWAY_ROWS:
            if row.ptype == "ctx" and not has_ctx:
                bad("a context attribute needs the request `r = sub, obj, act, ctx, probe` in model.conf")
            for message in _GATEWAY_CHECKS[row.ptype](row.values):
                bad(message)
            key = row.values if row.ptype == "exempt" else row.values[: 2 if row.ptype in ("category", "limit") else 1]
            if (row.ptype, key) in seen:
                bad(f"{', '.join(key)} is declared twice")
            seen[(row.ptype, key)] = row
            continue
        sec = row.ptype[:1]
        known = model.model.get(sec, {}).get(row.ptype)
        if known is None:
            bad(f"`{row.ptype}` is not a section of model.conf")
            continue
        if len(row.values) != len(known.tokens):
            bad(f"`{row.ptype}` rows have {len(known.tokens)} fields, this one has {len(row.values)}")
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


def _compile(enforcer: casbin.Enforcer, rows: list[Row], directory: Path) -> Policy:
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
        enforcer=enforcer,
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
        has_ctx="r_ctx" in enforcer.model.model["r"]["r"].tokens,
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
                policy._evaluate_uncached(sub, obj, action, ctx)
            except PolicyError:
                continue  # a deny without a code on a synthetic sample is a gap the policy tests catch
            except Exception as exc:
                row = _failing_row(policy, (sub, obj, action, ctx)[: 4 if policy.has_ctx else 3])
                raise PolicyError([PolicyProblem(row.file, row.line, f"a rule fails to evaluate: {exc}")]) from exc


def _failing_row(policy: Policy, request: tuple[object, ...]) -> Row:
    """The first p row whose probe (its reason, or `-` for an allow row) raises on this request."""
    p_rows = [r for r in policy.rows if r.ptype == "p"]
    for row in p_rows:
        try:
            policy.enforcer.enforce(*request, row.values[3])
        except Exception:
            return row
    return p_rows[0]
