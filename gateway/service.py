"""One call's decisions: one snapshot of facts, one policy, one group commit that logs them all.

The service sees the world through gateway/ports.py: a FactSource for the registry, a DecisionLog for
the records (DecisionEntry, which owns their masking) and a Clock; the container plugs in the adapters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import structlog
from fastapi.concurrency import run_in_threadpool

from gateway.audit.record import Asker, Columns, DecisionEntry, Serialized, record_of
from gateway.auth import Caller
from gateway.decision.calendar import local_day
from gateway.decision.engine import Decision
from gateway.decision.facts import Facts, facts_record
from gateway.decision.policy import NotMemoized
from gateway.decision.policy_context import RequestContext, declared_values, request_context
from gateway.errors import Unavailable
from gateway.ids import new_ulids
from gateway.metrics import DECIDE_SECONDS, LOG_WAIT_SECONDS, PENDING, UNAVAILABLE, count_decisions
from gateway.policy.holder import PolicyHolder
from gateway.ports import Clock, DecisionLog, FactSnapshot, FactSource, FactsUnavailable, LogOverloaded, LogUnavailable
from gateway.service_memo import Decided, DecisionMemo

log = structlog.get_logger("gateway.decisions")
_CONTEXT_CHANNEL = {"authzen": "evaluation"}  # r.ctx.channel: evaluation or release


def system_clock() -> datetime:
    return datetime.now(UTC)


class Question(NamedTuple):
    person_id: str
    document_id: str
    action: str
    at: datetime | None = None  # context.time: a simulation
    context: dict[str, Any] | None = None  # the request's context: the policy takes its declared attributes


class Outcome(NamedTuple):  # one per decision of a batch: a named tuple is the cheapest immutable record
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


def _columns_for(question: Question, registry_version: int, ctx: RequestContext) -> Callable[[Decided], Columns]:
    """How the memo makes a question's record columns the first time it is asked on a snapshot."""

    def columns(decided: Decided) -> Columns:
        facts, decision = decided
        logged, inputs = _logged_facts(decision, registry_version, ctx), facts_record(facts)
        return Columns.of(
            question.person_id, question.document_id, question.action, decision.reason_dicts, logged, inputs
        )

    return columns


class DecisionService:
    def __init__(
        self,
        facts: FactSource,
        log: DecisionLog,
        policies: PolicyHolder,
        zone: ZoneInfo,
        clock: Clock = system_clock,
    ):
        self.facts = facts
        self.log = log
        self.policies = policies
        self.zone = zone
        self.clock = clock
        self.memo = DecisionMemo()  # the decisions made on the current snapshot (service_memo.py)

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
        snapshot = await self.snapshot()
        try:
            outcomes, entries = self._decide(
                snapshot, questions, caller, request_id, channel, stop_after, started, memo_only=True
            )
        except NotMemoized:  # a first-time evaluation by Casbin takes milliseconds: not on the event loop
            outcomes, entries = await run_in_threadpool(
                self._decide, snapshot, questions, caller, request_id, channel, stop_after, started
            )
        decided = time.perf_counter_ns()
        await self.record(entries)
        self._count(outcomes, channel, started, decided)
        return outcomes

    async def snapshot(self) -> FactSnapshot:
        """The registry's current snapshot (from a thread when the database must be asked); 503 when
        it cannot be read."""
        snapshot = self.facts.fresh()
        if snapshot is None:
            snapshot = await run_in_threadpool(self._snapshot)
        return snapshot

    async def record(self, entries: Sequence[DecisionEntry | Serialized]) -> None:
        """Log `entries` durably, or raise Unavailable (503): nothing is answered before this returns."""
        try:
            await self.log.append(entries)
        except LogUnavailable as exc:
            raise self._unwritten(exc, len(entries)) from exc

    def _snapshot(self) -> FactSnapshot:
        try:
            return self.facts.current()
        except FactsUnavailable as exc:
            log.error("registry.unavailable", error=str(exc))
            UNAVAILABLE.labels("registry").inc()
            raise Unavailable("the registry cannot be read, so no decision is given; retry shortly") from exc

    def _decide(
        self,
        snapshot: FactSnapshot,
        questions: list[Question],
        caller: Caller,
        request_id: str | None,
        channel: str,
        stop_after: Callable[[bool], bool] | None,
        started: int,
        *,
        memo_only: bool = False,
    ) -> tuple[list[Outcome], list[Serialized]]:
        now = self.clock()
        today = local_day(now, self.zone)
        policy = self.policies.current
        outcomes: list[Outcome] = []
        entries: list[Serialized] = []
        ids = new_ulids(len(questions))
        asker = Asker.of(caller.sub, caller.client, request_id, channel)
        for decision_id, question in zip(ids, questions, strict=True):
            at = question.at or now
            day = today if question.at is None else local_day(at, self.zone)
            ctx = request_context(policy.context, _CONTEXT_CHANNEL.get(channel, channel), question.context)
            (facts, decision), columns = self.memo.decide_logged(
                snapshot,
                question.person_id,
                question.document_id,
                question.action,
                day,
                policy,
                ctx,
                _columns_for(question, snapshot.version, ctx),
                at=question.at,
                memo_only=memo_only,
            )
            assert columns is not None  # given `_columns_for`, the memo returns them
            outcome = Outcome(decision_id, decision, policy.version, at, question.at is not None, facts)
            outcomes.append(outcome)
            latency_us = (time.perf_counter_ns() - started) // 1000
            entries.append(
                record_of(
                    decision_id,
                    now,
                    at,
                    asker,
                    columns,
                    decision.allowed,
                    policy.version,
                    outcome.simulation,
                    latency_us,
                )
            )
            if stop_after is not None and stop_after(decision.allowed):
                break
        return outcomes, entries

    def _unwritten(self, exc: LogUnavailable, count: int) -> Unavailable:
        overloaded = isinstance(exc, LogOverloaded)
        log.error("decision_log.unavailable", error=str(exc), decisions=count, overloaded=overloaded)
        UNAVAILABLE.labels("decision_log_backlog" if overloaded else "decision_log").inc()
        if isinstance(exc, LogOverloaded):
            return Unavailable(
                "the decision log is behind, so no decision is given; retry shortly", retry_after=exc.retry_after
            )
        return Unavailable("the decision log cannot be written, so no decision is given; retry shortly")

    @staticmethod
    def _count(outcomes: list[Outcome], channel: str, started: int, decided: int) -> None:
        PENDING.observe(DECIDE_SECONDS, (decided - started) / 1e9)
        PENDING.observe(LOG_WAIT_SECONDS, (time.perf_counter_ns() - decided) / 1e9)
        count_decisions(channel, ((o.decision.allowed, o.decision.codes) for o in outcomes))
