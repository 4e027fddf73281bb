"""The Casbin policy, wrapped in one place.

Administrators write `policy/model.conf` and `policy/*.csv`. The gateway feeds Casbin flat,
precomputed attributes (`SubjectAttributes`, `ObjectAttributes`), so every decision's outcome is
a function of a small key; Casbin evaluates each distinct key once and the answer is memoized for
the life of this `Policy`. A reload builds a new `Policy` and swaps it whole.

Every `deny` row names a reason code. The decision is Casbin's own (`some allow && !some deny`);
the reasons are the codes whose deny rows match, found by probing Casbin once per code
(`r.probe`), so the policy files alone say why as well as what.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import casbin
from casbin.model import Model
from casbin.persist import Adapter

from gateway.decision.calendar import PERIOD_READINGS
from gateway.decision.policy_clearance import (
    Exemption,
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
    ContextAttribute,
    LocalReason,
    RequestContext,
    check_ctx_row,
    check_reason_row,
    context_attribute,
    declared_values,
    local_reason,
    request_context,
)
from gateway.decision.policy_registry import RegistryRules, check_category_row, check_limit_row, registry_rules
from gateway.decision.reasons import REASON_CODES

# Casbin logs the whole model at every load and a warning with the request at every deny; the
# gateway keeps its own decision log, so Casbin's loggers only speak on errors.
for _name in ("casbin", "casbin.policy", "casbin.enforcer", "casbin.role_manager"):
    logging.getLogger(_name).setLevel(logging.ERROR)

SCHEMES = ("esi", "sds")
TIERS = ("esi", "sds")
ALL_ACTIONS = "*"
GRANT = "-"  # the reason column of an allow row
DECIDE = "*"  # the probe that asks Casbin for the decision itself
_CACHE_LIMIT = 65_536


class SubjectAttributes(NamedTuple):
    """What the gateway tells the policy about the person, relative to one document (`r.sub`)."""

    known: bool
    kind: str  # government | contractor | "" when unknown
    exempt: bool  # C8: holds an office the policy exempts from assessment
    cleared: bool  # C3-C6: a valid favourable assessment under a scheme that opens the tier
    clearance_expired: bool
    clearance_suspended: bool
    clearance_revoked: bool
    clearance_insufficient: bool  # holds a valid clearance only under a scheme that does not open it
    certified: bool  # B1, B3: contractor's employer certified by the designating organ
    contracted: bool  # B1, B2: a contract in force covers the designation and the department
    on_roster: bool  # N1


class ObjectAttributes(NamedTuple):
    """What the gateway tells the policy about the document (`r.obj`)."""

    known: bool
    classified: bool  # carries a designation
    tier: str  # esi | sds | unclassified | "" when unknown
    in_force: bool  # D3


PROVIDED = {"sub": frozenset(SubjectAttributes._fields), "obj": frozenset(ObjectAttributes._fields)}
NO_CONTEXT = request_context({}, "evaluation", None)
_ATTRIBUTE = re.compile(r"\br\.(\w+)(?:\.(\w+))?")


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class NotMemoized(Exception):
    """This attribute vector has not been evaluated under this policy yet."""


class PolicyError(Exception):
    """The policy files cannot be loaded; `problems` says what is wrong, where."""

    def __init__(self, problems: list[PolicyProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class Validity:
    years: int
    reading: str


@dataclass(frozen=True, slots=True)
class Row:
    ptype: str
    values: tuple[str, ...]
    file: str
    line: int


class _Enforcer(casbin.Enforcer):
    """Casbin's enforcer, parsing each matcher expression once: pycasbin parses the matcher with the
    row's rule substituted on every call, which made a first-time evaluation cost milliseconds. The
    parsed expressions are kept for the life of the policy (rows never change; evaluations hold
    Policy._lock, so the evaluator's per-call names are never shared between threads)."""

    def __init__(self, *args: object) -> None:
        self._parsed: dict[str, object] = {}
        super().__init__(*args)

    def _get_expression(self, expr, functions=None):  # type: ignore[no-untyped-def, override]
        parsed = self._parsed.get(expr)
        if parsed is None:
            parsed = self._parsed[expr] = casbin.Enforcer._get_expression(expr, functions)
        return parsed


class _RowsAdapter(Adapter):
    """Feeds the checked rows to Casbin: the policy is loaded from our files, never written back."""

    def __init__(self, rows: Iterable[Row]):
        self._rows = list(rows)

    def load_policy(self, model: Model) -> None:
        for row in self._rows:
            if row.ptype in GATEWAY_ROWS:
                continue
            sec = row.ptype[0]
            model.model[sec][row.ptype].policy.append(list(row.values))


@dataclass
class Policy:
    """A loaded, checked policy: Casbin's enforcer plus the parameters the fact classifier reads."""

    enforcer: casbin.Enforcer
    version: str
    files: tuple[str, ...]
    actions: frozenset[str]
    opens: dict[str, frozenset[str]]  # tier -> schemes whose clearance opens it (C6)
    exemptions: tuple[Exemption, ...]  # C8: which office is exempt for whose information, under which tier
    validity: dict[str, Validity]  # scheme -> period (C3)
    conflicts: dict[str, str]  # tier -> how an adverse result under one scheme and a valid one under another resolve
    registry: RegistryRules  # D2 limits and the D4 catalogue the registry's checks read
    deny_codes: tuple[str, ...]
    rows: tuple[Row, ...] = ()
    context: dict[str, ContextAttribute] = field(default_factory=dict)  # r.ctx.<name>, declared by ctx rows
    local_reasons: dict[str, LocalReason] = field(default_factory=dict)  # local:<code>, declared by reason rows
    has_ctx: bool = False  # the model's request carries r.ctx
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _memo: dict[tuple[SubjectAttributes, ObjectAttributes, str, RequestContext], tuple[bool, tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )
    # Casbin is not thread-safe, and CPython 3.11's ast.parse (which Casbin calls on every enforce)
    # fails when threads race in it: cache misses are evaluated one at a time; hits take no lock.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    misses: int = field(default=0, repr=False)  # evaluations that ran Casbin (for /metrics)

    @property
    def memo_entries(self) -> int:
        """Attribute vectors answered so far (what /metrics shows of the memo)."""
        return len(self._memo)

    def evaluate(
        self,
        sub: SubjectAttributes,
        obj: ObjectAttributes,
        action: str,
        ctx: RequestContext = NO_CONTEXT,
        *,
        memo_only: bool = False,
    ) -> tuple[bool, tuple[str, ...]]:
        """(allowed, every reason code that applies), in the order of api.md's table, then local codes.

        ctx is part of the memo's key: the same attributes from another terminal are another question.

        memo_only: raise NotMemoized rather than run Casbin (milliseconds: Casbin parses its
        expressions on every call), so that the event loop never waits on a first-time evaluation.
        """
        key = self._key(sub, obj, action, ctx)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if memo_only:
            raise NotMemoized
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                return hit
            answer = self._evaluate_uncached(sub, obj, action, ctx)
            self.misses += 1
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[key] = answer
            return answer

    def _key(
        self, sub: SubjectAttributes, obj: ObjectAttributes, action: str, ctx: RequestContext
    ) -> tuple[SubjectAttributes, ObjectAttributes, str, RequestContext]:
        if action not in self.actions and ALL_ACTIONS not in self.actions:
            action = "\x00unknown"  # one key for every action no allow row names: the memo stays bounded
        if ctx._fields[1:] != tuple(self.context):  # type: ignore[attr-defined]  # made for another policy
            ctx = request_context(self.context, ctx[0], declared_values(ctx))
        return sub, obj, action, ctx

    def allows(
        self, sub: SubjectAttributes, obj: ObjectAttributes, action: str, ctx: RequestContext = NO_CONTEXT
    ) -> bool:
        """Whether the policy allows, without the reasons of a denial: one Casbin call (about 0.2 ms)
        instead of one per reason code, and nothing memoized. For questions about attribute vectors no
        person may hold (reach.py), which should not crowd the decisions out of the memo."""
        sub, obj, action, ctx = key = self._key(sub, obj, action, ctx)
        hit = self._memo.get(key)
        if hit is not None:
            return hit[0]
        request = (sub, obj, action, ctx) if self.has_ctx else (sub, obj, action)
        with self._lock:
            return bool(self.enforcer.enforce(*request, DECIDE))

    def _evaluate_uncached(
        self, sub: SubjectAttributes, obj: ObjectAttributes, action: str, ctx: RequestContext = NO_CONTEXT
    ) -> tuple[bool, tuple[str, ...]]:
        enforce, enforce_ex = self.enforcer.enforce, self.enforcer.enforce_ex
        request = (sub, obj, action, ctx) if self.has_ctx else (sub, obj, action)
        allowed = bool(enforce(*request, DECIDE))
        codes = [code for code in self.deny_codes if enforce_ex(*request, code)[1]]
        # The grant probe speaks only of a known person: an unknown one has no kind to grant to,
        # and subject_unknown already says why.
        if sub.known and not enforce(*request, GRANT):
            codes.append("action_not_permitted")
        codes.sort(key=self.code_order)
        if allowed and codes:  # cannot happen with the shipped effect; fail closed if a model makes it so
            allowed = False
        if not allowed and not codes:
            raise PolicyError([PolicyProblem("model.conf", 1, "the policy denied without any reason code")])
        return allowed, tuple(codes)

    def code_order(self, code: str) -> int:
        """api.md's codes in its order, then the policy's own in the order they are declared."""
        if code in REASON_CODES:
            return REASON_CODES.index(code)
        return len(REASON_CODES) + list(self.local_reasons).index(code)

    @property
    def summary(self) -> dict[str, object]:
        return {
            "version": self.version,
            "loaded_at": self.loaded_at.isoformat(),
            "files": list(self.files),
            "actions": sorted(self.actions),
            "exempt_offices": sorted({e.office for e in self.exemptions}),
            "exemptions": [{"office": e.office, "organ": e.organ, "tier": e.tier} for e in self.exemptions],
            "bridges": {tier: sorted(schemes) for tier, schemes in self.opens.items()},
            "validity": {s: {"years": v.years, "reading": v.reading} for s, v in self.validity.items()},
            "context": {a.name: {"type": a.type, "release_header": a.header} for a in self.context.values()},
            "local_reasons": {r.code: r.message for r in self.local_reasons.values()},
        }


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
        enforcer = _Enforcer(model, _RowsAdapter(rows))
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
    for row, message in widening_problems(rows):
        problems.append(PolicyProblem(row.file, row.line, message))
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
    for match in _ATTRIBUTE.finditer(rule):
        obj, attr = match.group(1), match.group(2)
        if obj == "act" and attr is None:
            continue
        if obj not in provided or attr is None:
            problems.append(f"`{match.group(0)}` is not an attribute the gateway provides")
        elif attr not in provided[obj]:
            choices = ", ".join(sorted(provided[obj]))
            problems.append(f"unknown attribute `r.{obj}.{attr}`; r.{obj} provides: {choices}")
    expression = rule.replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    expression = _ATTRIBUTE.sub(lambda m: m.group(0).replace(".", "_", 1), expression)
    try:
        ast.parse(expression.strip(), mode="eval")
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
            SubjectAttributes(True, "government", False, True, False, False, False, False, False, False, True),
            ObjectAttributes(True, True, "esi", True),
        ),
        (
            SubjectAttributes(False, "", False, False, False, False, False, False, False, False, False),
            ObjectAttributes(False, False, "", False),
        ),
        (
            SubjectAttributes(True, "contractor", False, False, True, True, True, True, True, True, False),
            ObjectAttributes(True, False, "unclassified", False),
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
