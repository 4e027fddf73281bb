"""Clearance rows the gateway reads itself (never given to Casbin): how a conflict between schemes
resolves (C4, C6, C7), and the explicit mark a widening `g` row needs (the SDS Act).

    conflict, <tier>, strictest           any adverse latest result (unfavourable, suspended, revoked)
                                          under a scheme that opens the tier denies it, whatever a
                                          valid clearance under another scheme says (the default)
    conflict, <tier>, own_result_stands   only the tier's own scheme's adverse result denies it: an
                                          ESI revocation closes ESI though SDS is valid, an SDS
                                          revocation leaves a valid ESI clearance opening ESI
    override, <scheme>, <tier>, <why>     the `g, <scheme>, <tier>` row is meant, though it opens a
                                          tier to a lower scheme's clearance (only `g, esi, sds`)
    exempt, <office>, <organ>, <tier>     C8: the office is exempt from assessment for the information
                                          of <organ> (`own`: the organ the office-holder serves, and
                                          what is provided to it, C5a) under <tier> (esi, sds or *)

A legacy `g2, <office>, exempt` row reads as `exempt, <office>, own, *` (policy check says so).

There is no resolution under which a bridge overrides the tier's own adverse result: C6 forbids it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

CONFLICT_RULES = ("strictest", "own_result_stands")
DEFAULT_CONFLICT = "strictest"
ADVERSE = ("unfavourable", "suspended", "revoked")  # C2, C4, C7: results a valid clearance elsewhere never outweighs
CLEARANCE_ROWS = ("conflict", "override", "exempt")
OWN_ORGAN, ANY_TIER = "own", "*"
_OFFICE = re.compile(r"[a-z][a-z0-9_]*")
_ORGAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RANK = {"esi": 0, "sds": 1}  # a higher tier is opened by its own scheme's clearance, never by a lower one's


class _Row(Protocol):
    @property
    def ptype(self) -> str: ...

    @property
    def values(self) -> tuple[str, ...]: ...

    @property
    def file(self) -> str: ...

    @property
    def line(self) -> int: ...


def check_conflict_row(values: tuple[str, ...]) -> list[str]:
    if len(values) != 2:
        rules = "|".join(CONFLICT_RULES)
        return [f"`conflict` rows read `conflict, <tier>, {rules}`; this one has {len(values)} fields"]
    tier, rule = values
    problems = []
    if tier not in _RANK:
        problems.append(f"unknown tier {tier!r}; expected esi or sds")
    if rule not in CONFLICT_RULES:
        problems.append(
            f"unknown conflict rule {rule!r}; expected {' or '.join(CONFLICT_RULES)} (a bridge never overrides "
            "the tier's own adverse result, C6)"
        )
    return problems


def check_override_row(values: tuple[str, ...]) -> list[str]:
    if len(values) < 3 or not ", ".join(values[2:]).strip():
        return ["`override` rows read `override, <scheme>, <tier>, <why it is meant>`"]
    scheme, tier = values[0], values[1]
    if (scheme, tier) != ("esi", "sds"):
        return [f"`override, {scheme}, {tier}` marks nothing: only `g, esi, sds` widens a tier and needs a mark"]
    return []


def widening_problems(rows: Iterable[_Row]) -> list[tuple[_Row, str]]:
    """The SDS Act: SDS information is for SDS clearances only. A `g` row opening a tier to a lower
    scheme's clearance (`g, esi, sds`) is refused unless an `override` row marks it as meant."""
    rows = list(rows)
    marked = {(r.values[0], r.values[1]) for r in rows if r.ptype == "override" and len(r.values) >= 2}
    problems = []
    for row in rows:
        if row.ptype != "g" or len(row.values) != 2:
            continue
        scheme, tier = row.values
        if scheme in _RANK and tier in _RANK and _RANK[scheme] < _RANK[tier] and (scheme, tier) not in marked:
            problems.append(
                (
                    row,
                    f"`g, {scheme}, {tier}` lets an {scheme.upper()} clearance open {tier.upper()} information, which "
                    f"the SDS Act forbids; if this is really meant, add `override, {scheme}, {tier}, <why>`",
                )
            )
    return problems


def conflicts(rows: Iterable[_Row]) -> dict[str, str]:
    """tier -> conflict rule, from the `conflict` rows; tiers without one resolve to the strictest."""
    found = {r.values[0]: r.values[1] for r in rows if r.ptype == "conflict" and len(r.values) == 2}
    return {tier: found.get(tier, DEFAULT_CONFLICT) for tier in _RANK}


@dataclass(frozen=True, slots=True)
class Exemption:
    """C8: `office` needs no assessment for `organ`'s information (OWN_ORGAN: the holder's own organ,
    and what is provided to it) under `tier` (ANY_TIER: both)."""

    office: str
    organ: str
    tier: str

    def covers(self, office: str | None, own: bool, organ: str, tier: str) -> bool:
        """own: the information is the holder's organ's, or provided to it (C5a)."""
        if office != self.office or self.tier not in (ANY_TIER, tier):
            return False
        return own if self.organ == OWN_ORGAN else self.organ == organ


def check_exempt_row(values: tuple[str, ...]) -> list[str]:
    if len(values) != 3:
        return [f"`exempt` rows read `exempt, <office>, <organ or own>, <esi, sds or *>`; this one has {len(values)}"]
    office, organ, tier = values
    problems = []
    if not _OFFICE.fullmatch(office):
        problems.append(f"office {office!r} must be a lower-case identifier such as minister_of_state")
    if organ != OWN_ORGAN and not _ORGAN.fullmatch(organ):
        problems.append(f"{organ!r} is neither `own` nor an organ id")
    if tier != ANY_TIER and tier not in _RANK:
        problems.append(f"unknown tier {tier!r}; expected esi, sds or *")
    return problems


def exemptions(rows: Iterable[_Row]) -> tuple[Exemption, ...]:
    """The `exempt` rows, and each legacy `g2, <office>, exempt` row as `exempt, <office>, own, *`."""
    found = []
    for row in rows:
        if row.ptype == "exempt" and len(row.values) == 3:
            found.append(Exemption(*row.values))
        elif row.ptype == "g2" and len(row.values) == 2:
            found.append(Exemption(row.values[0], OWN_ORGAN, ANY_TIER))
    return tuple(dict.fromkeys(found))
