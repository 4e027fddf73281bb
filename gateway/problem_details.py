"""The one table from the domain's errors (gateway/errors.py) to RFC 9457 problem details: status,
type, title and headers. Every problem body the gateway sends is made here: the API's exception
handlers, the lean decision route, the pages, and the middleware's 413, 431 and 500 answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyRefused,
    Problem,
    RefusedData,
    ReleaseDenied,
    ReleaseFailed,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

PROBLEM_BASE = "https://clearance-gateway.dev/problems/"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Kind:
    status: int
    type: str  # the last part of the problem's type URI
    title: str


TABLE: dict[type[Problem], Kind] = {
    InvalidInput: Kind(400, "invalid-input", "Invalid input"),
    RefusedData: Kind(422, "invalid-registry-data", "Registry data refused"),
    PolicyRefused: Kind(422, "policy-refused", "Policy refused"),
    Unauthenticated: Kind(401, "unauthenticated", "Authentication required"),
    Forbidden: Kind(403, "forbidden", "Forbidden"),
    NotFound: Kind(404, "not-found", "Not found"),
    Conflict: Kind(409, "conflict", "Conflict"),
    Unavailable: Kind(503, "unavailable", "Service unavailable"),
    ReleaseDenied: Kind(403, "access-denied", "Access denied"),
    ReleaseFailed: Kind(500, "release-failed", "The document cannot be released"),
    TooLarge: Kind(413, "too-large", "Request body too large"),
    Problem: Kind(500, "internal", "Internal error"),
}
TOO_LARGE = TABLE[TooLarge]
HEADERS_TOO_LARGE = Kind(431, "headers-too-large", "Request headers too large")
INTERNAL = TABLE[Problem]


def kind_of(problem: Problem) -> Kind:
    """The nearest kind in the table, by the error's class and then its bases."""
    for cls in type(problem).__mro__:
        if cls in TABLE:
            return TABLE[cls]
    return INTERNAL


def body(kind: Kind, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": PROBLEM_BASE + kind.type, "title": kind.title, "status": kind.status, "detail": detail, **extra}


def problem_body(problem: Problem) -> dict[str, Any]:
    out = body(kind_of(problem), problem.detail, **problem.extra)
    if isinstance(problem, InvalidInput):
        out["errors"] = [e.as_dict() for e in problem.errors]
    return out


def problem_headers(problem: Problem) -> dict[str, str]:
    if isinstance(problem, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if isinstance(problem, Unavailable):
        return {"Retry-After": str(problem.retry_after)}
    if isinstance(problem, ReleaseDenied):
        return {"X-Decision-Id": problem.decision_id}
    return {}
