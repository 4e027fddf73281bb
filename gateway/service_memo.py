"""The decisions the service has already made, kept for the snapshot they were made on.

A decision depends on nothing but the facts of the pair (fixed for one snapshot and the changes it
records before the instant asked about), the action, the calendar day, the request context and the
policy (its version is a hash of its files). So the same question on the same day in the same context
is answered from memory until the registry or the policy changes.

The memo belongs to the decision service, not to the snapshot: a snapshot only resolves facts. The memo
keeps the entries of one snapshot at a time and starts afresh when it is given another (a patched
registry, a reloaded one); a snapshot that is not the service's own (an access review's stand-in, a
benchmark's registry) never meets entries made on another. It is bounded in entries, and each entry
in bytes: only ids within the id rules' length and a small request context are kept (the HTTP layer
refuses longer ids before deciding; this holds whoever calls).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from gateway.audit.record import Columns
from gateway.decision.engine import Decision, decide
from gateway.decision.facts import Facts
from gateway.decision.policy import NO_CONTEXT, Policy
from gateway.decision.policy_context import RequestContext
from gateway.ports import FactSnapshot
from models.identifiers import MAX_ID_LENGTH

KEPT = 65_536  # per snapshot: enough for every (person, document) pair asked about in a day
_CONTEXT_KEPT = 1024  # characters of a request context's repr, beyond which its decision is not kept

Decided = tuple[Facts, Decision]  # the facts a decision rested on, and the decision
# (person, document, action, day, policy version, request context, changes before the instant asked about)
_Key = tuple[str, str, str, date, str, RequestContext, int]


class DecisionMemo:
    """(facts, decision) by question, and the record columns made for it, for the last snapshot it was
    asked about. The replay inputs are kept only as their serialized bytes (in the columns): about a
    quarter of the memory of the dictionary they are made from."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        # The snapshot is held weakly: a memo must not keep a replaced registry alive while no one asks.
        self._current: tuple[weakref.ref[FactSnapshot] | None, dict[_Key, list[Any]]] = (None, {})

    def decide(
        self,
        snapshot: FactSnapshot,
        person_id: str,
        document_id: str,
        action: str,
        day: date,
        policy: Policy,
        ctx: RequestContext = NO_CONTEXT,
        *,
        at: datetime | None = None,
        memo_only: bool = False,
    ) -> Decided:
        """The decision on `snapshot`'s facts at `at` (None: now) on `day`; memo_only: raise NotMemoized
        rather than evaluate the policy for the first time (see Policy.evaluate)."""
        args = (snapshot, person_id, document_id, action, day, policy, ctx)
        return self.decide_logged(*args, None, at=at, memo_only=memo_only)[0]

    def decide_logged(
        self,
        snapshot: FactSnapshot,
        person_id: str,
        document_id: str,
        action: str,
        day: date,
        policy: Policy,
        ctx: RequestContext,
        columns: Callable[[Decided], Columns] | None,
        *,
        at: datetime | None = None,
        memo_only: bool = False,
    ) -> tuple[Decided, Columns | None]:
        """`decide`, and the record's columns for it, made by `columns` the first time the question is
        asked on this snapshot (they depend on nothing else: see Columns); None without `columns`."""
        entries = self._entries(snapshot)
        cut = snapshot.changes_before(at)
        key = (person_id, document_id, action, day, policy.version, ctx, cut)
        known = entries.get(key)  # [decided, its columns or None, kept]
        if known is None:
            facts = snapshot.facts(person_id, document_id, at)
            decided = (facts, decide(facts, action, day, policy, ctx, memo_only=memo_only))
            kept = max(len(person_id), len(document_id), len(action)) <= MAX_ID_LENGTH
            known = [decided, None, kept and len(repr(ctx)) <= _CONTEXT_KEPT]
            if known[2]:
                if len(entries) >= self._kept:
                    entries.clear()
                entries[key] = known
        made = known[1]
        if made is None and columns is not None:
            made = columns(known[0])
            if known[2]:
                known[1] = made
        return known[0], made

    def _entries(self, snapshot: FactSnapshot) -> dict[_Key, list[Any]]:
        current = self._current  # one read: threads swapping snapshots each see a consistent pair
        if current[0] is None or current[0]() is not snapshot:
            current = self._current = (weakref.ref(snapshot), {})
        return current[1]

    def stats(self) -> dict[str, int]:
        """What /metrics and the tests see: the entries kept for the current snapshot."""
        held, entries = self._current
        snapshot = held() if held is not None else None
        if snapshot is None:
            return {"entries": 0, "snapshot_version": -1}
        return {"entries": len(entries), "snapshot_version": snapshot.version}

    def questions(self) -> list[_Key]:
        """The questions kept (for the tests of what the memo may hold)."""
        return list(self._current[1])
