"""The policy information point: the registry held in memory as an immutable, indexed snapshot.

A decision then costs dictionary look-ups, not queries. Every change to the registry writes a
change event in the same transaction, so the change chain's head is the registry's version. The
resolver (resolver.py) checks its snapshot against that version (one primary-key read) and patches
it (patching.py) or reads it whole (loading.py) when it moved. How often it checks is invalidation.py's
business: on every decision unless a LISTEN connection vouches for the cache, and in any case once
`max_age` seconds have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from gateway.decision.engine import Decision, decide
from gateway.decision.facts import (
    AssessmentFact,
    CertificationFact,
    ContractFact,
    DesignationFact,
    DocumentFact,
    Facts,
    PersonFact,
    ProvisionFact,
    RosterFact,
    facts_record,
)
from gateway.decision.policy import NO_CONTEXT, Policy
from gateway.decision.policy_context import RequestContext
from gateway.registry.history import History
from models import (
    ChainHead,
)
from models.identifiers import MAX_ID_LENGTH

_DECISIONS_KEPT = 65_536  # per snapshot: enough for every (person, document) pair asked about in a day


# (person, document, action, day, policy version, request context, changes before the instant asked about)
_Memo = dict[tuple[str, str, str, date, str, RequestContext, int], tuple[Facts, Decision, dict[str, Any]]]


@dataclass(frozen=True)
class RegistrySnapshot:
    version: int
    persons: dict[str, PersonFact] = field(default_factory=dict)
    documents: dict[str, DocumentFact] = field(default_factory=dict)
    designations: dict[str, DesignationFact] = field(default_factory=dict)
    assessments: dict[str, tuple[AssessmentFact, ...]] = field(default_factory=dict)  # by person
    certifications: dict[str, tuple[CertificationFact, ...]] = field(default_factory=dict)  # by operator
    contracts: dict[str, tuple[ContractFact, ...]] = field(default_factory=dict)  # by operator
    roster: dict[tuple[str, str], RosterFact] = field(default_factory=dict)  # (designation, person)
    provisions: dict[str, tuple[ProvisionFact, ...]] = field(default_factory=dict)  # C5a, by designation
    history: History = field(default_factory=History)  # the facts of earlier instants (history.py)
    _decided: _Memo = field(default_factory=dict, repr=False, compare=False)

    def decide(
        self,
        person_id: str,
        document_id: str,
        action: str,
        day: date,
        policy: Policy,
        ctx: RequestContext = NO_CONTEXT,
        *,
        at: datetime | None = None,
        memo_only: bool = False,
    ) -> tuple[Facts, Decision, dict[str, Any]]:
        """(facts, decision, facts as logged for replay), memoized; `at`: the instant asked about
        (context.time), on whose facts the decision is made; None for the present.

        A decision depends on nothing but the facts of the pair (fixed for this snapshot and the
        changes recorded before `at`), the action, the calendar day, the request context and the policy
        (its version is a hash of its files), so the same question on the same day in the same context is
        answered from memory until the registry or the policy changes. The memo is bounded in entries, and
        each entry in bytes: only ids within the id rules' length and a small request context are kept
        (the HTTP layer refuses longer ids before deciding; this holds whoever calls).
        """
        cut = self.history.cut(at)
        key = (person_id, document_id, action, day, policy.version, ctx, cut)
        known = self._decided.get(key)
        if known is None:
            facts = self.facts(person_id, document_id, at if cut < len(self.history.instants) else None)
            known = (facts, decide(facts, action, day, policy, ctx, memo_only=memo_only), facts_record(facts))
            if max(len(person_id), len(document_id), len(action)) <= MAX_ID_LENGTH and len(repr(ctx)) <= 1024:
                if len(self._decided) >= _DECISIONS_KEPT:
                    self._decided.clear()
                self._decided[key] = known
        return known

    def facts(self, person_id: str, document_id: str, at: datetime | None = None) -> Facts:
        """The facts of (person, document) in force at instant `at` (None: now, today's registry)."""
        facts = self._facts(person_id, document_id)
        if at is None or self.history.cut(at) == len(self.history.instants):
            return facts
        return self.history.as_of(facts, at)

    def _facts(self, person_id: str, document_id: str) -> Facts:
        person = self.persons.get(person_id)
        document = self.documents.get(document_id)
        designation = None
        if document is not None and document.designation_id is not None:
            designation = self.designations.get(document.designation_id)
        operator = person.operator_id if person is not None else None
        return Facts(
            person_id=person_id,
            document_id=document_id,
            person=person,
            document=document,
            designation=designation,
            assessments=self.assessments.get(person_id, ()),
            certifications=self.certifications.get(operator, ()) if operator else (),
            contracts=self.contracts.get(operator, ()) if operator else (),
            roster=self.roster.get((designation.id, person_id)) if designation is not None else None,
            provisions=self.provisions.get(designation.id, ()) if designation is not None else (),
        )


VERSION_SQL = "SELECT chain_index FROM chain_heads WHERE chain = 'changes'"


def registry_version(conn: Connection) -> int:
    """The number of change events so far: the change chain's head, one primary-key read (no scan)."""
    version = conn.execute(select(col(ChainHead.chain_index)).where(col(ChainHead.chain) == "changes")).scalar()
    return int(version or 0)
