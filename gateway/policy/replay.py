"""Replay logged decisions under a candidate policy: what would flip, and whether access widens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.decision.calendar import local_day
from gateway.decision.engine import decide
from gateway.decision.facts import facts_from_record
from gateway.decision.impact_report import change_kind, outcome_dict
from gateway.decision.policy import Policy
from gateway.decision.policy_context import request_context

_CHANNEL = {"release": "release"}  # r.ctx.channel of a logged decision; every other channel is evaluation


@dataclass(frozen=True, slots=True)
class Flip:
    decision_id: str
    person_id: str
    document_id: str
    action: str
    evaluated_at: datetime
    was: tuple[str, ...]  # () for allow
    now: tuple[str, ...]
    was_allowed: bool
    now_allowed: bool

    @property
    def widens(self) -> bool:
        return self.now_allowed and not self.was_allowed


@dataclass
class DiffReport:
    replayed: int = 0
    unchanged: int = 0
    without_inputs: int = 0
    flips: list[Flip] = field(default_factory=list)

    @property
    def widening(self) -> list[Flip]:
        return [f for f in self.flips if f.widens]

    def groups(self) -> Counter[tuple[bool, tuple[str, ...], bool, tuple[str, ...]]]:
        return Counter((f.was_allowed, f.was, f.now_allowed, f.now) for f in self.flips)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "without_inputs": self.without_inputs,
            "flips": len(self.flips),
            "widening": len(self.widening),
            "groups": [
                {
                    "kind": change_kind((wa, w), (na, n)),
                    "was": outcome_dict((wa, w)),
                    "now": outcome_dict((na, n)),
                    "count": c,
                }
                for (wa, w, na, n), c in self.groups().most_common()
            ],
            "decisions": [
                {
                    "decision_id": f.decision_id,
                    "person": f.person_id,
                    "document": f.document_id,
                    "action": f.action,
                    "evaluated_at": f.evaluated_at.isoformat(),
                    "kind": change_kind((f.was_allowed, f.was), (f.now_allowed, f.now)),
                    "was": outcome_dict((f.was_allowed, f.was)),
                    "now": outcome_dict((f.now_allowed, f.now)),
                }
                for f in self.flips
            ],
        }


def replay(rows: Iterable[Mapping[Any, Any]], candidate: Policy, zone: ZoneInfo, report: DiffReport) -> DiffReport:
    """Decide each logged row again from its recorded facts and instant; collect what flips."""
    for row in rows:
        if not row.get("inputs"):
            report.without_inputs += 1
            continue
        facts = facts_from_record(row["person_id"], row["document_id"], row["inputs"])
        channel = _CHANNEL.get(row.get("channel") or "", "evaluation")
        ctx = request_context(candidate.context, channel, (row.get("facts") or {}).get("context"))
        decision = decide(facts, row["action"], local_day(row["evaluated_at"], zone), candidate, ctx)
        was = tuple(code for code in (row["reason_codes"] or "").split() if code)
        report.replayed += 1
        if decision.allowed == row["allowed"] and decision.codes == was:
            report.unchanged += 1
            continue
        report.flips.append(
            Flip(
                row["decision_id"],
                row["person_id"],
                row["document_id"],
                row["action"],
                row["evaluated_at"],
                was,
                decision.codes,
                row["allowed"],
                decision.allowed,
            )
        )
    return report
