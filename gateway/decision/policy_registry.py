"""Registry rules the policy folder holds as data, read by the gateway (never given to Casbin):

    category, <scheme>, <id>, <what it covers>          D4: the catalogue of designation categories
    limit, <scheme>, <name>, <years or ->               D2: designation periods, in years

A designation's `category` is a catalogue id of its scheme, or a finer item under one
(`supply-chain/semiconductors` under `supply-chain`). The limits are named `first_period`,
`extension`, `total_without_cabinet` and `total_with_cabinet` (`-`: no cap beyond Cabinet approval).
Both are versioned with the policy (its hash covers every file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from gateway.decision.calendar import period_end

REGISTRY_ROWS = ("category", "limit")
LIMIT_NAMES = ("first_period", "extension", "total_without_cabinet", "total_with_cabinet")
NO_CAP = "-"
_SCHEMES = ("esi", "sds")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*")


class _Row(Protocol):
    @property
    def ptype(self) -> str: ...

    @property
    def values(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class DesignationLimits:
    """D2, in years: the first period, each extension, the total without and with Cabinet approval."""

    first_period: int
    extension: int
    total_without_cabinet: int
    total_with_cabinet: int | None  # None: no cap once the Cabinet approves


@dataclass(frozen=True)
class RegistryRules:
    categories: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # scheme -> id -> what it covers
    limits: Mapping[str, DesignationLimits] = field(default_factory=dict)  # scheme -> D2 limits

    def category_problem(self, scheme: str, category: str) -> str | None:
        """D4: None when `category` is one of the scheme's catalogue ids, or an item under one."""
        known = self.categories.get(scheme, {})
        parts = category.split("/")
        if any("/".join(parts[:n]) in known for n in range(len(parts), 0, -1)):
            return None
        listed = ", ".join(sorted(known)) or "none"
        return (
            f"{category!r} is not an {scheme.upper()} category of the policy's catalogue (D4; categories.csv): "
            f"use one of {listed}, or an item under one (such as {sorted(known)[0] + '/...' if known else '-'})"
        )

    def first_period_problem(self, scheme: str, designated_on: date, expires_on: date) -> str | None:
        """D2: the first period ends on or after its start and lasts at most `first_period` years."""
        if expires_on < designated_on:
            return f"expires_on {expires_on} is before designated_on {designated_on}"
        years = self.limits[scheme].first_period
        limit = period_end(designated_on, years)
        if expires_on > limit:
            return f"the first period may run at most {years} years: through {limit} at the latest (D2)"
        return None

    def extension_problem(
        self, scheme: str, designated_on: date, current_expiry: date, new_expiry: date, cabinet_ref: str | None
    ) -> str | None:
        """D2: each extension adds at most `extension` years; past `total_without_cabinet` years in all
        only with a Cabinet approval, and never past `total_with_cabinet`."""
        limits = self.limits[scheme]
        if new_expiry <= current_expiry:
            return f"the new expires_on {new_expiry} does not extend the current one, {current_expiry}"
        step = period_end(current_expiry + timedelta(days=1), limits.extension)
        if new_expiry > step:
            return f"an extension adds at most {limits.extension} years: through {step} at the latest (D2)"
        cap = period_end(designated_on, limits.total_without_cabinet)
        if new_expiry > cap and not cabinet_ref:
            return (
                f"beyond {cap}, {limits.total_without_cabinet} years from designation, an extension needs a "
                "cabinet_approval_ref (D2)"
            )
        if limits.total_with_cabinet is not None:
            hard = period_end(designated_on, limits.total_with_cabinet)
            if new_expiry > hard:
                return (
                    f"a {scheme.upper()} designation ends by {hard}, {limits.total_with_cabinet} years from "
                    "designation, even with Cabinet approval (D2)"
                )
        return None


def check_category_row(values: tuple[str, ...]) -> list[str]:
    if len(values) < 3:
        return ["`category` rows read `category, <esi or sds>, <id>, <what it covers>`"]
    scheme, category = values[0], values[1]
    problems = []
    if scheme not in _SCHEMES:
        problems.append(f"unknown scheme {scheme!r}; expected esi or sds")
    if not _CATEGORY.fullmatch(category):
        problems.append(f"category id {category!r} must be lower-case words joined by - and /")
    return problems


def check_limit_row(values: tuple[str, ...]) -> list[str]:
    if len(values) != 3:
        return ["`limit` rows read `limit, <esi or sds>, <name>, <years or ->`"]
    scheme, name, years = values
    problems = []
    if scheme not in _SCHEMES:
        problems.append(f"unknown scheme {scheme!r}; expected esi or sds")
    if name not in LIMIT_NAMES:
        problems.append(f"unknown limit {name!r}; expected one of {', '.join(LIMIT_NAMES)}")
    allowed_none = name == "total_with_cabinet" and years == NO_CAP
    if not allowed_none and (not years.isdigit() or not 1 <= int(years) <= 100):
        problems.append(f"years must be a whole number from 1 to 100 (or - for total_with_cabinet), not {years!r}")
    return problems


def registry_rules(rows: Iterable[_Row]) -> tuple[RegistryRules, list[tuple[_Row | None, str]]]:
    """The catalogue and the limits, and what is missing or inconsistent (every scheme needs every limit)."""
    rows = list(rows)
    categories: dict[str, dict[str, str]] = {s: {} for s in _SCHEMES}
    values: dict[str, dict[str, str]] = {s: {} for s in _SCHEMES}
    for row in rows:
        if row.ptype == "category" and len(row.values) >= 3 and row.values[0] in categories:
            categories[row.values[0]][row.values[1]] = ", ".join(row.values[2:])
        elif row.ptype == "limit" and len(row.values) == 3 and row.values[0] in values:
            values[row.values[0]][row.values[1]] = row.values[2]
    problems: list[tuple[_Row | None, str]] = []
    limits = {}
    for scheme in _SCHEMES:
        missing = [n for n in LIMIT_NAMES if n not in values[scheme]]
        if missing:
            message = f"no `limit, {scheme}, {missing[0]}, <years>` row (D2): every scheme needs all four"
            problems.append((None, message))
            continue
        given = values[scheme]
        try:
            limits[scheme] = DesignationLimits(
                int(given["first_period"]),
                int(given["extension"]),
                int(given["total_without_cabinet"]),
                None if given["total_with_cabinet"] == NO_CAP else int(given["total_with_cabinet"]),
            )
        except ValueError:
            continue  # the row check names it
        cap = limits[scheme].total_with_cabinet
        if cap is not None and cap < limits[scheme].total_without_cabinet:
            problems.append((None, f"{scheme}: total_with_cabinet ({cap}) is below total_without_cabinet"))
    for scheme in _SCHEMES:
        if not categories[scheme]:
            problems.append((None, f"no `category, {scheme}, ...` row (D4): a {scheme.upper()} designation needs one"))
    return RegistryRules(categories, limits), problems
