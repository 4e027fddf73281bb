"""The status transitions of assessments (C7) and certifications (B3): which leave which status for
which, and the refusal that says what is allowed instead. Revocation is final."""

from __future__ import annotations

from gateway.errors import Conflict
from gateway.registry.tables import ENTITY
from models.vocabulary import Status

# C7 (assessments) and B3 (certifications): name -> (statuses it leaves, status it reaches). Revocation is final.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "suspend": (frozenset({Status.ACTIVE}), Status.SUSPENDED),
    "reinstate": (frozenset({Status.SUSPENDED}), Status.ACTIVE),
    "revoke": (frozenset({Status.ACTIVE, Status.SUSPENDED}), Status.REVOKED),
}


def allowed_transitions(status: str) -> list[str]:
    return [name for name, (sources, _) in TRANSITIONS.items() if status in sources]


def refused_transition(plural: str, entity_id: str, status: str, wanted: str) -> Conflict:
    allowed = allowed_transitions(status)
    why = "revocation is final (C7)" if status == Status.REVOKED else f"allowed from {status}: {', '.join(allowed)}"
    return Conflict(
        f"{ENTITY[plural]} {entity_id} is {status}: cannot {wanted}; {why}",
        extra={"current_status": status, "allowed": allowed},
    )
