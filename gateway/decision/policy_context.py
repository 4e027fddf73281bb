"""What the policy files declare for the gateway itself: request context attributes and local reasons.

Two row types are read by the gateway and never given to Casbin:

    ctx, <name>, <type>, <release header>     a context attribute the matcher reads as r.ctx.<name>
    reason, local:<code>, <message>           an administrator's own reason code for deny rows

A context attribute is typed (string, bool or int). The AuthZEN PEP sends it in the request's
`context.<name>`; document release takes it from the named HTTP header. An attribute the request does
not carry is None, so a rule that tests it fails closed. `r.ctx.channel` (evaluation or release) is
always there.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CHANNELS = ("evaluation", "release")
TYPES: dict[str, type] = {"string": str, "bool": bool, "int": int}
LOCAL_PREFIX = "local:"
GATEWAY_ROWS = (
    "ctx",
    "reason",
    "conflict",  # policy_clearance.py
    "override",
    "exempt",
    "category",  # policy_registry.py
    "limit",
)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_HEADER = re.compile(r"[A-Za-z0-9-]+|-")


@dataclass(frozen=True, slots=True)
class ContextAttribute:
    name: str
    type: str
    header: str | None  # release takes the value from this header; None: not available at release
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class LocalReason:
    code: str
    message: str
    file: str
    line: int


RequestContext = tuple[Any, ...]  # `r.ctx`: a named tuple of the channel and every declared attribute


@lru_cache(maxsize=64)
def _context_type(names: tuple[str, ...]) -> type:
    return namedtuple("ctx", ("channel", *names))  # hashable: part of the memo's key


def declared_values(ctx: RequestContext) -> dict[str, Any]:
    """The declared attributes of r.ctx and their values (the channel left out)."""
    if len(ctx) == 1:  # the policy declares none: the common case, on every decision
        return {}
    return dict(zip(ctx._fields[1:], ctx[1:], strict=True))  # type: ignore[attr-defined]


def check_ctx_row(values: tuple[str, ...]) -> list[str]:
    if len(values) != 3:
        return [f"`ctx` rows read `ctx, <name>, <type>, <release header or ->`; this one has {len(values)} fields"]
    name, kind, header = values
    problems = []
    if not _NAME.fullmatch(name) or name == "channel":
        problems.append(f"context attribute {name!r} must be a lower-case identifier other than channel")
    if kind not in TYPES:
        problems.append(f"unknown type {kind!r}; expected one of {', '.join(TYPES)}")
    if not _HEADER.fullmatch(header):
        problems.append(f"{header!r} is not an HTTP header name (or - for none)")
    return problems


def check_reason_row(values: tuple[str, ...]) -> list[str]:
    if len(values) < 2:
        return ["`reason` rows read `reason, local:<code>, <message>`"]
    code = values[0]
    if not code.startswith(LOCAL_PREFIX) or not _NAME.fullmatch(code.removeprefix(LOCAL_PREFIX)):
        return [f"a policy's own reason code is `local:` and a lower-case identifier, not {code!r}"]
    return []


def context_attribute(values: tuple[str, ...], file: str, line: int) -> ContextAttribute:
    name, kind, header = values
    return ContextAttribute(name, kind, None if header == "-" else header, file, line)


def local_reason(values: tuple[str, ...], file: str, line: int) -> LocalReason:
    return LocalReason(values[0], ", ".join(values[1:]), file, line)


def context_problems(declared: Mapping[str, ContextAttribute], given: Mapping[str, Any] | None) -> dict[str, str]:
    """{name: what is wrong} for each declared attribute the request carries with the wrong type."""
    return {
        name: f"the policy declares {name} a {attribute.type}, not {type(value).__name__}"
        for name, attribute in declared.items()
        if (value := (given or {}).get(name)) is not None and not _fits(value, attribute.type)
    }


def request_context(
    declared: Mapping[str, ContextAttribute], channel: str, given: Mapping[str, Any] | None
) -> RequestContext:
    """r.ctx from what the request carries: declared attributes only; one of the wrong type is None
    (callers refuse such a request first, see context_problems; this only fails closed)."""
    given = given or {}
    values = []
    for name, attribute in declared.items():
        value = given.get(name)
        values.append(value if value is None or _fits(value, attribute.type) else None)
    return _context_type(tuple(declared))(channel, *values)


def from_headers(declared: Mapping[str, ContextAttribute], headers: Mapping[str, str]) -> dict[str, Any]:
    """Release: each declared attribute with a header, read from it and converted to its type."""
    given: dict[str, Any] = {}
    for name, attribute in declared.items():
        raw = headers.get(attribute.header) if attribute.header else None
        if raw is None:
            continue
        if attribute.type == "bool":
            given[name] = {"true": True, "false": False}.get(raw.strip().lower(), raw)
        elif attribute.type == "int":
            given[name] = int(raw) if raw.strip().lstrip("-").isdigit() else raw
        else:
            given[name] = raw
    return given


def _fits(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])
