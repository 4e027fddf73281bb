"""The decision record (R1), version 1: what the log keeps of one decision, and all of its masking.

Every decision the gateway answers becomes one record: a `DecisionEntry` made by `DecisionEntry.of`,
or, on the decision service's path, the same record made from its parts (`record_of`: the caller's
`Asker`, masked once a request, and a question's `Columns`, masked and serialized once a snapshot). This
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

import orjson

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


def json_column(value: Any) -> bytes | None:
    """A JSON column as stored and hashed: orjson, keys sorted."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class Serialized(NamedTuple):
    """A record ready for the chain: its JSON columns as the canonical bytes (keys sorted) that its hash
    covers and its row stores. Made once, where the record is made or where it is written."""

    decision_id: str
    schema_version: int
    logged_at: datetime
    evaluated_at: datetime
    caller_sub: str
    caller_client: str | None
    request_id: str | None
    channel: str
    person_id: str
    document_id: str
    action: str
    allowed: bool
    reasons: bytes
    reason_codes: str
    policy_version: str
    facts: bytes
    inputs: bytes | None
    simulation: bool
    latency_us: int


def serialized(e: DecisionEntry | Serialized) -> Serialized:
    if isinstance(e, Serialized):
        return e
    return Serialized(
        e.decision_id, e.schema_version, e.logged_at, e.evaluated_at, e.caller_sub, e.caller_client, e.request_id,
        e.channel, e.person_id, e.document_id, e.action, e.allowed, json_column(e.reasons),  # type: ignore[arg-type]
        " ".join([r["code"] for r in e.reasons]), e.policy_version, json_column(e.facts),  # type: ignore[arg-type]
        json_column(e.inputs), e.simulation, e.latency_us,
    )  # fmt: skip


class Columns(NamedTuple):
    """What a record of one question holds whoever asks it and whenever: its masked ids and its JSON
    columns as serialized. The same for every asking of a question on one snapshot, so the decision
    service keeps it beside the decision (gateway/service_memo.py) and a repeated question costs no
    serialization."""

    person_id: str
    document_id: str
    action: str
    reasons: bytes
    reason_codes: str
    facts: bytes
    inputs: bytes | None

    @classmethod
    def of(
        cls,
        person_id: str,
        document_id: str,
        action: str,
        reasons: list[dict[str, str]],
        facts: dict[str, Any],
        inputs: dict[str, Any] | None,
    ) -> Columns:
        """Masked and serialized exactly as `serialized(DecisionEntry.of(...))` would."""
        return cls(
            clip(person_id) or "",
            clip(document_id) or "",
            clip(action) or "",
            _kept(json_column(reasons)),  # type: ignore[arg-type]
            " ".join([r["code"] for r in reasons]),
            _kept(json_column(facts)),  # type: ignore[arg-type]
            _kept(json_column(inputs)),
        )


def _kept(data: bytes | None) -> bytes | None:
    """`data` copied into memory of its own size. orjson returns its output in a block of about 4 KB
    whatever its length; columns are kept as long as their snapshot, and with 3,000 questions those
    blocks added 36 MiB to a gateway's resident memory."""
    return None if data is None else memoryview(data).tobytes()


class Asker(NamedTuple):
    """What a record holds of the request: the caller and its request id, masked once a request."""

    caller_sub: str
    caller_client: str | None
    request_id: str | None
    channel: str

    @classmethod
    def of(cls, caller_sub: str, caller_client: str | None, request_id: str | None, channel: str) -> Asker:
        return cls(clip(caller_sub) or "", clip(caller_client), clip(request_id, REQUEST_ID_LIMIT), channel)


def record_of(
    decision_id: str,
    logged_at: datetime,
    evaluated_at: datetime,
    asker: Asker,
    columns: Columns,
    allowed: bool,
    policy_version: str,
    simulation: bool,
    latency_us: int,
) -> Serialized:
    """A record ready for the chain from its parts: the same record as
    `serialized(DecisionEntry.of(...))` on the same values (tests/audit/test_record_parts.py)."""
    return Serialized(
        decision_id, RECORD_SCHEMA, logged_at, evaluated_at, *asker, columns.person_id, columns.document_id,
        columns.action, allowed, columns.reasons, columns.reason_codes, policy_version, columns.facts,
        columns.inputs, simulation, latency_us,
    )  # fmt: skip
