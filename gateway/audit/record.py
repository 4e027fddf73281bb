"""The decision record (R1), version 1: what the log keeps of one decision, and all of its masking.

Every decision the gateway answers becomes one `DecisionEntry`, made by `DecisionEntry.of`, and this
module is the one place that decides what a logged value may look like and who may read it:

- ids are logged as given, with control characters escaped (PostgreSQL refuses NUL) and cut to their
  column's width, so that whatever a caller sends, the log write cannot fail on it;
- `facts` holds the ids of the facts a decision rested on, never an assessment's content (C9);
- `inputs` holds the raw facts for replay: administrators only, never in an auditor's answer
  (`AUDITOR_FIELDS` is the whitelist the audit queries read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from models.logs import RECORD_SCHEMA

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]}
ID_LIMIT, REQUEST_ID_LIMIT = 256, 200  # the widths of the columns (models/logs.py)

# C9: what an auditor may see of a decision. A whitelist, so that `inputs` (and any field added
# later) stays out of every audit answer unless someone decides otherwise here.
AUDITOR_FIELDS = (
    "seq",
    "decision_id",
    "logged_at",
    "evaluated_at",
    "caller_sub",
    "caller_client",
    "request_id",
    "channel",
    "person_id",
    "document_id",
    "action",
    "allowed",
    "reasons",
    "policy_version",
    "facts",
    "simulation",
    "latency_us",
)


def clip(value: str | None, limit: int = ID_LIMIT) -> str | None:
    """An id as logged: control characters escaped, never longer than its column."""
    if value is None or (len(value) <= limit and value.isprintable()):
        return value
    if not value.isprintable():
        value = value.translate(_CONTROL)
    if len(value) <= limit:
        return value
    return value[: limit - 12] + "…(truncated)"


class DecisionEntry(NamedTuple):
    """One logged decision, as stored (table `decisions`, schema_version 1), before it is chained.

    A named tuple: immutable, and built in a few hundred nanoseconds (a frozen dataclass costs several
    µs a record, and a batch of 1,000 makes 1,000 of them on the event loop)."""

    decision_id: str
    logged_at: datetime  # aware
    evaluated_at: datetime  # aware: the instant decided for (context.time of a simulation)
    caller_sub: str
    caller_client: str | None
    request_id: str | None
    channel: str  # authzen | release
    person_id: str
    document_id: str
    action: str
    allowed: bool
    reasons: list[dict[str, str]]
    policy_version: str
    facts: dict[str, Any]  # ids only (C9)
    inputs: dict[str, Any] | None  # raw facts for replay: administrators only (C9)
    simulation: bool
    latency_us: int
    schema_version: int = RECORD_SCHEMA

    @classmethod
    def of(
        cls,
        *,
        decision_id: str,
        logged_at: datetime,
        evaluated_at: datetime,
        caller_sub: str,
        caller_client: str | None,
        request_id: str | None,
        channel: str,
        person_id: str,
        document_id: str,
        action: str,
        allowed: bool,
        reasons: list[dict[str, str]],
        policy_version: str,
        facts: dict[str, Any],
        inputs: dict[str, Any] | None,
        simulation: bool,
        latency_us: int,
    ) -> DecisionEntry:
        """A record of what was decided, masked: every caller-supplied id clipped."""
        return cls(
            decision_id,
            logged_at,
            evaluated_at,
            clip(caller_sub) or "",
            clip(caller_client),
            clip(request_id, REQUEST_ID_LIMIT),
            channel,
            clip(person_id) or "",
            clip(document_id) or "",
            clip(action) or "",
            allowed,
            reasons,
            policy_version,
            facts,
            inputs,
            simulation,
            latency_us,
        )

    @property
    def reason_codes(self) -> str:
        """Space-separated, for filtering."""
        return " ".join(r["code"] for r in self.reasons)

    def as_row(self) -> dict[str, Any]:
        """The record as the table's columns (before chaining), for SQLAlchemy Core."""
        row = self._asdict()
        row["reason_codes"] = self.reason_codes
        return row


def decision_row(**fields: Any) -> dict[str, Any]:
    """`DecisionEntry.of(**fields).as_row()`: a masked row for writers that go through SQLAlchemy."""
    return DecisionEntry.of(**fields).as_row()
