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

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import casbin
from casbin.model import Model
from casbin.persist import Adapter

from gateway.decision.policy_clearance import (
    Exemption,
)
from gateway.decision.policy_context import (
    GATEWAY_ROWS,
    ContextAttribute,
    LocalReason,
    RequestContext,
    declared_values,
    request_context,
)
from gateway.decision.policy_registry import RegistryRules
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


FLAGS = SubjectAttributes._fields[2:]  # every boolean of a subject after `known` and `kind`


def subject(kind: str, *, known: bool = True, **flags: bool) -> SubjectAttributes:
    """A subject vector by name, every flag not named false: for the policy's own enumerations and
    samples (the engine names every field itself)."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise TypeError(f"no subject attribute {sorted(unknown)}")
    return SubjectAttributes(known=known, kind=kind, **{name: flags.get(name, False) for name in FLAGS})


UNKNOWN_SUBJECT = subject("", known=False)  # a person the registry does not know
PROVIDED = {"sub": frozenset(SubjectAttributes._fields), "obj": frozenset(ObjectAttributes._fields)}
NO_CONTEXT = request_context({}, "evaluation", None)
ATTRIBUTE = re.compile(r"\br\.(\w+)(?:\.(\w+))?")


def as_python(rule: str) -> str:
    """A rule as the Python expression Casbin evaluates it as: `&&`, `||` and `!` as `and`, `or` and
    `not`, and `r.sub.cleared` as `r_sub.cleared` (the request's parts as names). The one translation:
    the policy's syntax check parses it, `policy check` evaluates it over every attribute vector."""
    expression = rule.replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    return ATTRIBUTE.sub(lambda m: m.group(0).replace(".", "_", 1), expression).strip()


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


class Enforcer(casbin.Enforcer):
    """Casbin's enforcer, parsing each matcher expression once: pycasbin parses the matcher with the
    row's rule substituted on every call, which made a first-time evaluation cost milliseconds. The
    parsed expressions are kept for the life of the policy (rows never change; evaluations hold
    Policy._lock, so the evaluator's per-call names are never shared between threads)."""

    def __init__(self, *args: object) -> None:
        self._parsed: dict[str, object] = {}
        super().__init__(*args)

    def _get_expression(self, expr, functions=None):
        parsed = self._parsed.get(expr)
        if parsed is None:
            parsed = self._parsed[expr] = casbin.Enforcer._get_expression(expr, functions)
        return parsed


class RowsAdapter(Adapter):
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
