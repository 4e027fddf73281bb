"""Whom a policy can let in at all: the bound that lets a search skip the persons off a roster.

A search asks "who may read DOC-X?" of 100,000 persons, or "what may P read?" of 20,000 documents.
Deciding every pair costs about 12 µs each: a second a search. But under the shipped policy (N1) no
one reads a classified document without being on its designation's roster, whatever else is true of
them; so only the persons with a roster entry (now or in the registry's past) need deciding.

That is a property of the policy files, which administrators edit, so it is checked rather than
assumed: every subject attribute vector with `on_roster` false, for every kind of classified object,
is put to the policy. If none is allowed the bound holds and a search may use the rosters; if any is,
it decides every candidate in full (slower, never wrong). The answer is kept per policy version,
action and request context.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from gateway.decision.policy import FLAGS, UNKNOWN_SUBJECT, ObjectAttributes, Policy, SubjectAttributes, subject
from gateway.decision.policy_context import RequestContext

KINDS = ("government", "contractor")
TIERS = ("esi", "sds")
_OFF_ROSTER_FLAGS = tuple(name for name in FLAGS if name != "on_roster")
_KEPT = 256
_bounds: dict[tuple[str, str, str, RequestContext], bool] = {}
_lock = threading.Lock()


def off_roster_subjects() -> list[SubjectAttributes]:
    """Every attribute vector of a known person who is not on the roster (512 of them): the impossible
    combinations too (cleared and revoked at once), so that the bound does not rest on how the
    engine classifies."""
    return [
        subject(kind, **dict(zip(_OFF_ROSTER_FLAGS, flags, strict=True)))
        for kind in KINDS
        for flags in itertools.product((False, True), repeat=len(_OFF_ROSTER_FLAGS))
    ]


def classified_objects() -> list[ObjectAttributes]:
    """Every attribute vector of a known classified document (a dangling designation reads as ESI)."""
    return [
        ObjectAttributes(known=True, classified=True, tier=tier, in_force=in_force)
        for tier in TIERS
        for in_force in (True, False)
    ]


def roster_bound(policy: Policy, action: str, ctx: RequestContext) -> bool:
    """True when the policy denies `action` on every classified document to every person off its
    designation's roster (then a search decides only the persons with a roster entry)."""
    subjects = off_roster_subjects()
    return _kept(
        "roster", policy, action, ctx,
        lambda: not any(policy.allows(sub, obj, action, ctx) for obj in classified_objects() for sub in subjects),
    )  # fmt: skip


def someone_allowed(policy: Policy, obj: ObjectAttributes, action: str, ctx: RequestContext) -> bool:
    """Whether any known person (any attribute vector, on the roster or not) may take `action` on an
    object with these attributes: an unknown or unclassified document no one may read needs no scan."""
    subjects = [s._replace(on_roster=on) for s in off_roster_subjects() for on in (False, True)]
    return _kept(
        f"object {obj}", policy, action, ctx, lambda: any(policy.allows(sub, obj, action, ctx) for sub in subjects)
    )


def unknown_subject_allowed(policy: Policy, action: str, ctx: RequestContext) -> bool:
    """Whether a person the registry does not know may take `action` on any known document."""
    unknown = UNKNOWN_SUBJECT
    objects = [*classified_objects(), UNCLASSIFIED]
    return _kept(
        "unknown subject", policy, action, ctx, lambda: any(policy.allows(unknown, o, action, ctx) for o in objects)
    )


UNCLASSIFIED = ObjectAttributes(known=True, classified=False, tier="unclassified", in_force=False)
UNKNOWN_DOCUMENT = ObjectAttributes(known=False, classified=False, tier="", in_force=False)


def _kept(question: str, policy: Policy, action: str, ctx: RequestContext, answer: Callable[[], bool]) -> bool:
    key = (question, policy.version, action, ctx)
    known = _bounds.get(key)
    if known is None:
        known = answer()
        with _lock:
            if len(_bounds) >= _KEPT:
                _bounds.clear()
            _bounds[key] = known
    return known
