"""Domain exceptions, and their one translation into RFC 9457 problem details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_BASE = "https://clearance-gateway.dev/problems/"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field, by its location in the input: ("persons", 2, "organ_id")."""

    location: tuple[Any, ...]
    detail: str

    @property
    def pointer(self) -> str:  # RFC 6901
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.location)

    @property
    def path(self) -> str:  # the JSONPath form api.md speaks of: $.persons[2].organ_id
        out = "$"
        for part in self.location:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "path": self.path, "detail": self.detail}


class Problem(Exception):
    """An error a caller should see, with its HTTP status and RFC 9457 fields."""

    status = 500
    kind = "internal"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class InvalidInput(Problem):
    status, kind, title = 400, "invalid-input", "Invalid input"

    def __init__(self, detail: str, errors: list[FieldError], *, status: int = 400):
        super().__init__(detail, status=status)
        self.errors = errors
        if status == 422:
            self.kind, self.title = "invalid-registry-data", "Registry data refused"
        elif status == 409:
            self.kind, self.title = "conflict", "Conflict"

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": [e.as_dict() for e in self.errors]}


class PolicyRefused(InvalidInput):
    """A policy reload refused: invalid files or failing policy tests; `errors` name file and line."""

    def __init__(self, detail: str, errors: list[FieldError]):
        super().__init__(detail, errors, status=422)
        self.kind, self.title = "policy-refused", "Policy refused"


class Unauthenticated(Problem):
    status, kind, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Forbidden(Problem):
    status, kind, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    status, kind, title = 404, "not-found", "Not found"


class Conflict(Problem):
    """The request is well-formed but the record's state refuses it (a revoked clearance, a cancelled designation)."""

    status, kind, title = 409, "conflict", "Conflict"


class Unavailable(Problem):
    """The gateway cannot keep a promise (log the decision, reach its database): refuse, never guess."""

    status, kind, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
