"""The compiled policy, as the core sees it: a value holding the parameters the fact classifier reads
and the rules, behind the `Rules` interface (`gateway/policy/` reads the files and answers `Rules`
with Casbin; nothing here imports Casbin or reads a file or the clock).

Administrators write `policy/model.conf` and `policy/*.csv`. The gateway gives the rules flat,
precomputed attributes (`SubjectAttributes`, `ObjectAttributes`), so every decision's outcome is
a function of a small key; the rules evaluate each distinct key once and the answer is memoized for
the life of this `Policy`. A reload builds a new `Policy` and swaps it whole.

Every `deny` row names a reason code. The decision is the model's own (`some allow && !some deny`);
the reasons are the codes whose deny rows match, found by probing the rules once per code
(`r.probe`), so the policy files alone say why as well as what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from gateway.decision.policy_clearance import (
    Exemption,
)
from gateway.decision.policy_context import (
    ContextAttribute,
    LocalReason,
    RequestContext,
    declared_values,
    request_context,
)
from gateway.decision.policy_registry import RegistryRules
from gateway.decision.reasons import REASON_CODES

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


class Rules(Protocol):
    """The policy's rows as compiled by their model, asked about one request at a time. A request is
    (sub, obj, act) or, when the model's request carries r.ctx, (sub, obj, act, ctx); the probe (which
    rows to consider, by their reason column) is passed apart. Implementations are safe to call from
    threads."""

    def allows(self, request: tuple[object, ...], probe: str) -> bool:
        """The model's effect over the rows whose reason column is `probe` (`*`: every row)."""
        ...

    def matches(self, request: tuple[object, ...], probe: str) -> bool:
        """Whether some row whose reason column is `probe` matches, whatever its effect."""
        ...


@dataclass
class Policy:
    """A loaded, checked policy: its rules plus the parameters the fact classifier reads."""

    rules: Rules
    version: str
    files: tuple[str, ...]
    actions: frozenset[str]
    opens: dict[str, frozenset[str]]  # tier -> schemes whose clearance opens it (C6)
    exemptions: tuple[Exemption, ...]  # C8: which office is exempt for whose information, under which tier
    validity: dict[str, Validity]  # scheme -> period (C3)
    conflicts: dict[str, str]  # tier -> how an adverse result under one scheme and a valid one under another resolve
    registry: RegistryRules  # D2 limits and the D4 catalogue the registry's checks read
    deny_codes: tuple[str, ...]
    loaded_at: datetime  # when the loader compiled it (for /metrics and `policy show`)
    rows: tuple[Row, ...] = ()
    context: dict[str, ContextAttribute] = field(default_factory=dict)  # r.ctx.<name>, declared by ctx rows
    local_reasons: dict[str, LocalReason] = field(default_factory=dict)  # local:<code>, declared by reason rows
    has_ctx: bool = False  # the model's request carries r.ctx
    _memo: dict[tuple[SubjectAttributes, ObjectAttributes, str, RequestContext], tuple[bool, tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )
    misses: int = field(default=0, repr=False)  # evaluations that ran the rules (for /metrics)

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

        memo_only: raise NotMemoized rather than run the rules (a first-time evaluation probes them
        once per reason code: about a millisecond), so that the event loop never waits on one.
        """
        key = self._key(sub, obj, action, ctx)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if memo_only:
            raise NotMemoized
        answer = self.evaluate_uncached(sub, obj, action, ctx)
        self.misses += 1  # two threads missing the same key both count (and store the same answer)
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
        """Whether the policy allows, without the reasons of a denial: one probe of the rules (about
        0.2 ms) instead of one per reason code, and nothing memoized. For questions about attribute
        vectors no person may hold (reach.py), which should not crowd the decisions out of the memo."""
        sub, obj, action, ctx = key = self._key(sub, obj, action, ctx)
        hit = self._memo.get(key)
        if hit is not None:
            return hit[0]
        return self.rules.allows(self.request(sub, obj, action, ctx), DECIDE)

    def request(
        self, sub: SubjectAttributes, obj: ObjectAttributes, action: str, ctx: RequestContext = NO_CONTEXT
    ) -> tuple[object, ...]:
        """The request as the model declares it: with r.ctx only when the model's request has it."""
        return (sub, obj, action, ctx) if self.has_ctx else (sub, obj, action)

    def evaluate_uncached(
        self, sub: SubjectAttributes, obj: ObjectAttributes, action: str, ctx: RequestContext = NO_CONTEXT
    ) -> tuple[bool, tuple[str, ...]]:
        """`evaluate` without the memo: every probe put to the rules."""
        rules, request = self.rules, self.request(sub, obj, action, ctx)
        allowed = rules.allows(request, DECIDE)
        codes = [code for code in self.deny_codes if rules.matches(request, code)]
        # The grant probe speaks only of a known person: an unknown one has no kind to grant to,
        # and subject_unknown already says why.
        if sub.known and not rules.allows(request, GRANT):
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
