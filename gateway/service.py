"""One call's decisions: one snapshot of facts, one policy, one transaction that logs them all."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.chain import Signer
from gateway.audit.group_commit import GroupCommitter, LogTimeout
from gateway.audit.writer import decision_row
from gateway.auth import Caller
from gateway.decision.calendar import local_day
from gateway.decision.engine import Decision, decide
from gateway.decision.facts import Facts, facts_record
from gateway.errors import Unavailable
from gateway.ids import new_ulid
from gateway.metrics import DECIDE_SECONDS, LOG_WAIT_SECONDS, UNAVAILABLE, count_decisions
from gateway.policy_holder import PolicyHolder
from gateway.registry.snapshot import FactResolver

log = structlog.get_logger("gateway.decisions")
Clock = Callable[[], datetime]


_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]}


def clip(value: str | None, limit: int = 256) -> str | None:
    """Ids are logged as given, but with control characters escaped (PostgreSQL refuses NUL) and
    never longer than their column: whatever a caller sends, the log write must not fail."""
    if value is None:
        return None
    value = value.translate(_CONTROL)
    if len(value) <= limit:
        return value
    return value[: limit - 12] + "…(truncated)"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Question:
    person_id: str
    document_id: str
    action: str
    at: datetime | None = None  # context.time: a simulation


@dataclass(frozen=True, slots=True)
class Outcome:
    decision_id: str
    decision: Decision
    policy_version: str
    evaluated_at: datetime
    simulation: bool
    facts: Facts


class DecisionService:
    def __init__(
        self,
        engine: Engine,
        resolver: FactResolver,
        policies: PolicyHolder,
        zone: ZoneInfo,
        clock: Clock = system_clock,
        signer: Signer | None = None,
    ):
        self.signer = signer
        self.log = GroupCommitter(engine, signer)
        self.engine = engine
        self.resolver = resolver
        self.policies = policies
        self.zone = zone
        self.clock = clock

    def evaluate(
        self,
        questions: list[Question],
        caller: Caller,
        *,
        request_id: str | None = None,
        channel: str = "authzen",
        stop_after: Callable[[bool], bool] | None = None,
    ) -> list[Outcome]:
        """Decide in order (stopping early when `stop_after(allowed)` says so), log, commit, return.

        Nothing is returned unless every decision made is durably committed to the log first (R1):
        a failure to write raises Unavailable (503), never an answer.
        """
        started = time.perf_counter_ns()
        now = self.clock()
        policy = self.policies.current
        outcomes: list[Outcome] = []
        rows = []
        try:
            snapshot = self.resolver.current()
        except SQLAlchemyError as exc:
            log.error("registry.unavailable", error=type(exc).__name__)
            UNAVAILABLE.labels("registry").inc()
            raise Unavailable("the registry cannot be read, so no decision is given; retry shortly") from exc
        for question in questions:
            at = question.at or now
            facts = snapshot.facts(question.person_id, question.document_id)
            decision = decide(facts, question.action, local_day(at, self.zone), policy)
            outcome = Outcome(new_ulid(), decision, policy.version, at, question.at is not None, facts)
            outcomes.append(outcome)
            rows.append(
                decision_row(
                    decision_id=outcome.decision_id,
                    logged_at=now,
                    evaluated_at=at,
                    caller_sub=clip(caller.sub),
                    caller_client=clip(caller.client),
                    request_id=request_id,
                    channel=channel,
                    person_id=clip(question.person_id),
                    document_id=clip(question.document_id),
                    action=clip(question.action),
                    allowed=decision.allowed,
                    reasons=[r.as_dict() for r in decision.reasons],
                    policy_version=policy.version,
                    facts={**decision.facts_used, "registry_version": snapshot.version},
                    inputs=facts_record(facts),
                    simulation=outcome.simulation,
                    latency_us=(time.perf_counter_ns() - started) // 1000,
                )
            )
            if stop_after is not None and stop_after(decision.allowed):
                break
        decided = time.perf_counter_ns()
        DECIDE_SECONDS.observe((decided - started) / 1e9)
        try:
            self.log.write(rows)  # group commit: returns only once the rows are durable
        except (SQLAlchemyError, LogTimeout) as exc:
            log.error("decision_log.unavailable", error=type(exc).__name__, decisions=len(rows))
            UNAVAILABLE.labels("decision_log").inc()
            raise Unavailable("the decision log cannot be written, so no decision is given; retry shortly") from exc
        LOG_WAIT_SECONDS.observe((time.perf_counter_ns() - decided) / 1e9)
        count_decisions(channel, ((o.decision.allowed, (r.code for r in o.decision.reasons)) for o in outcomes))
        return outcomes
