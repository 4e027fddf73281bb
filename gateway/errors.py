"""Domain exceptions: what went wrong, in words, with no HTTP in them (problem_details.py maps them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    """An error a caller should hear about, in the domain's words: what went wrong (`detail`) and any
    facts to add (`extra`). It names no HTTP status: gateway/problem_details.py is the one table that
    turns each kind into an RFC 9457 problem, for the API, the lean route and the pages; the CLI prints
    the same words."""

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class InvalidInput(Problem):
    """The request's shape or values are wrong; `errors` name each bad field."""

    def __init__(self, detail: str, errors: list[FieldError]):
        super().__init__(detail)
        self.errors = errors


class RefusedData(InvalidInput):
    """Well-formed registry data that a rule refuses (D2's limits, a dangling reference, ...)."""


class PolicyRefused(RefusedData):
    """A policy reload refused: invalid files or failing policy tests; `errors` name file and line."""


class Unauthenticated(Problem):
    """No usable bearer token."""


class Forbidden(Problem):
    """A good token without the scope the call needs."""


class NotFound(Problem):
    """No such record."""


class Conflict(Problem):
    """The request is well-formed but the record's state refuses it (a revoked clearance, a cancelled
    designation), or the registry changed under it."""


class TooLarge(Problem):
    """A request body past its route's limit."""


class Unavailable(Problem):
    """The gateway cannot keep a promise (log the decision, reach its database): refuse, never guess."""

    def __init__(self, detail: str, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class ReleaseDenied(Problem):
    """A document is not released: the same for every reason and for an unknown document (no existence
    oracle); the reasons are in the decision log under `decision_id`."""

    def __init__(self, detail: str, decision_id: str):
        super().__init__(detail, extra={"decision_id": decision_id})
        self.decision_id = decision_id


class ReleaseFailed(Problem):
    """A document allowed and logged could not be read from the store."""
