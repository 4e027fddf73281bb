"""One call's decisions: one snapshot of facts, one policy, one transaction that logs them all."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.chain import Signer
from gateway.audit.group_commit import GroupCommitter, LogTimeout
from gateway.audit.writer import decision_row
from gateway.auth import Caller
from gateway.decision.calendar import local_day
from gateway.decision.engine import Decision
from gateway.decision.facts import Facts
from gateway.decision.policy import NotMemoized
from gateway.decision.policy_context import RequestContext, declared_values, request_context
from gateway.errors import Unavailable
from gateway.ids import new_ulid
from gateway.metrics import DECIDE_SECONDS, LOG_WAIT_SECONDS, UNAVAILABLE, count_decisions
from gateway.policy_holder import PolicyHolder
from gateway.registry.snapshot import FactResolver, RegistrySnapshot

log = structlog.get_logger("gateway.decisions")
Clock = Callable[[], datetime]


_CONTEXT_CHANNEL = {"authzen": "evaluation"}  # r.ctx.channel: evaluation or release
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
    context: dict[str, Any] | None = None  # the request's context: the policy takes its declared attributes


@dataclass(frozen=True, slots=True)
class Outcome:
    decision_id: str
    decision: Decision
    policy_version: str
    evaluated_at: datetime
    simulation: bool
    facts: Facts


def _logged_facts(decision: Decision, registry_version: int, ctx: RequestContext) -> dict[str, Any]:
    """R1: the fact ids, the registry's version and the declared context attributes the policy read."""
    facts = {**decision.facts_used, "registry_version": registry_version}
    if declared := declared_values(ctx):
        facts["context"] = declared
    return facts


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

    async def evaluate(
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
        a failure to write raises Unavailable (503), never an answer. Deciding is a few dictionary
        look-ups on a snapshot already in memory, so it runs on the event loop; only a registry check
        that needs the database, or a first-time Casbin evaluation, goes to a thread, and the log
        write is awaited."""
        started = time.perf_counter_ns()
        snapshot = self.resolver.fresh()
        if snapshot is None:
            snapshot = await run_in_threadpool(self._snapshot)
        try:
            outcomes, rows = self._decide(
                snapshot, questions, caller, request_id, channel, stop_after, started, memo_only=True
            )
        except NotMemoized:  # a first-time evaluation by Casbin takes milliseconds: not on the event loop
            outcomes, rows = await run_in_threadpool(
                self._decide, snapshot, questions, caller, request_id, channel, stop_after, started
            )
        decided = time.perf_counter_ns()
        try:
            await self.log.write(rows)
        except (SQLAlchemyError, LogTimeout) as exc:
            raise self._unwritten(exc, len(rows)) from exc
        self._count(outcomes, channel, started, decided)
        return outcomes

    def _snapshot(self) -> RegistrySnapshot:
        try:
            return self.resolver.current()
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError) as exc:
            log.error("registry.unavailable", error=type(exc).__name__)
            UNAVAILABLE.labels("registry").inc()
            raise Unavailable("the registry cannot be read, so no decision is given; retry shortly") from exc

    def _decide(
        self,
        snapshot: RegistrySnapshot,
        questions: list[Question],
        caller: Caller,
        request_id: str | None,
        channel: str,
        stop_after: Callable[[bool], bool] | None,
        started: int,
        *,
        memo_only: bool = False,
    ) -> tuple[list[Outcome], list[dict[str, Any]]]:
        now = self.clock()
        today = local_day(now, self.zone)
        policy = self.policies.current
        caller_sub, caller_client = clip(caller.sub), clip(caller.client)
        outcomes: list[Outcome] = []
        rows = []
        for question in questions:
            at = question.at or now
            day = today if question.at is None else local_day(at, self.zone)
            ctx = request_context(policy.context, _CONTEXT_CHANNEL.get(channel, channel), question.context)
            facts, decision, inputs = snapshot.decide(
                question.person_id,
                question.document_id,
                question.action,
                day,
                policy,
                ctx,
                at=question.at,
                memo_only=memo_only,
            )
            outcome = Outcome(new_ulid(), decision, policy.version, at, question.at is not None, facts)
            outcomes.append(outcome)
            rows.append(
                decision_row(
                    decision_id=outcome.decision_id,
                    logged_at=now,
                    evaluated_at=at,
                    caller_sub=caller_sub,
                    caller_client=caller_client,
                    request_id=request_id,
                    channel=channel,
                    person_id=clip(question.person_id),
                    document_id=clip(question.document_id),
                    action=clip(question.action),
                    allowed=decision.allowed,
                    reasons=decision.reason_dicts,
                    policy_version=policy.version,
                    facts=_logged_facts(decision, snapshot.version, ctx),
                    inputs=inputs,
                    simulation=outcome.simulation,
                    latency_us=(time.perf_counter_ns() - started) // 1000,
                )
            )
            if stop_after is not None and stop_after(decision.allowed):
                break
        return outcomes, rows

    def _unwritten(self, exc: Exception, count: int) -> Unavailable:
        log.error("decision_log.unavailable", error=type(exc).__name__, decisions=count)
        UNAVAILABLE.labels("decision_log").inc()
        return Unavailable("the decision log cannot be written, so no decision is given; retry shortly")

    @staticmethod
    def _count(outcomes: list[Outcome], channel: str, started: int, decided: int) -> None:
        DECIDE_SECONDS.observe((decided - started) / 1e9)
        LOG_WAIT_SECONDS.observe((time.perf_counter_ns() - decided) / 1e9)
        count_decisions(channel, ((o.decision.allowed, o.decision.codes) for o in outcomes))
