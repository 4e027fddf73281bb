"""The decision log (R1) and the change-event log (R4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

RECORD_SCHEMA = 1  # version of the decision record's shape


class DecisionRecord(SQLModel, table=True):
    __tablename__ = "decisions"
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    decision_id: str = Field(max_length=32, sa_column_kwargs={"unique": True})
    schema_version: int = RECORD_SCHEMA
    logged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    evaluated_at: datetime = Field(sa_type=UTCDateTime)  # the instant decided for (context.time)
    caller_sub: str = Field(max_length=256)
    caller_client: str | None = Field(default=None, max_length=256)
    request_id: str | None = Field(default=None, max_length=200)
    channel: str = Field(max_length=16)  # authzen | release
    person_id: str = Field(max_length=256)
    document_id: str = Field(max_length=256)
    action: str = Field(max_length=256)
    allowed: bool
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason_codes: str = Field(default="", max_length=400)  # space-separated, for filtering
    policy_version: str = Field(max_length=80)
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The raw facts, for replay under a candidate policy; administrators only (C9), never in audit answers.
    inputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    simulation: bool = False
    latency_us: int = 0
    # R2: the hash chain (gateway/audit/chain.py)
    chain_index: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, unique=True))
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


Index("ix_decisions_person", DecisionRecord.__table__.c.person_id, DecisionRecord.__table__.c.seq)  # type: ignore[attr-defined]
Index("ix_decisions_document", DecisionRecord.__table__.c.document_id, DecisionRecord.__table__.c.seq)  # type: ignore[attr-defined]


class ChangeEvent(SQLModel, table=True):
    """R4: who changed what, when, before and after. Its sequence is also the registry's version."""

    __tablename__ = "change_events"
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    request_id: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    chain_index: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, unique=True))
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class ChainHead(SQLModel, table=True):
    """The last entry of each log's hash chain; its row lock orders concurrent writers."""

    __tablename__ = "chain_heads"
    chain: str = Field(primary_key=True, max_length=16)  # decisions | changes
    chain_index: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(default="", max_length=64)


class Checkpoint(SQLModel, table=True):
    """A chain head signed by the gateway's key: proof that nothing before it was rewritten later."""

    __tablename__ = "checkpoints"
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    chain: str = Field(max_length=16)
    chain_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)
    signed_at: datetime = Field(sa_type=UTCDateTime)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)
