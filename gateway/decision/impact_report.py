"""What `policy diff` reports of a candidate policy: each change of outcome (was, now), its kind
(widens, narrows, reasons changed), how many decisions it moves, examples, and the policy rows behind
it. impact.py fills the report over the whole registry; replay.py uses the same words for logged
decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.decision.policy import Policy

Outcome = tuple[bool, tuple[str, ...]]


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    """One shape for "was" and "now", in both sections of the report."""
    allowed, codes = outcome
    return {"decision": "allow" if allowed else "deny", "reasons": list(codes)}


def change_kind(was: Outcome, now: Outcome) -> str | None:
    if was == now:
        return None
    if now[0] and not was[0]:
        return "widens"
    if was[0] and not now[0]:
        return "narrows"
    return "reasons changed"  # deny -> deny with other codes


@dataclass
class Change:
    kind: str
    action: str
    was: Outcome
    now: Outcome
    count: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (person, document)

    def rules(self, before: Policy, after: Policy) -> list[str]:
        """The deny rows behind the codes that differ, as file:line (code), in the policy holding them."""
        out = []
        for code in sorted(set(self.was[1]) ^ set(self.now[1])):
            gone = code in self.was[1]
            if code == "action_not_permitted":  # no deny row: the allow rows of the action changed
                policy, what = (after, "grant added") if gone else (before, "grant removed")
                rows = [r for r in policy.rows if r.ptype == "p" and r.values[:2] == ("allow", self.action)]
                label = f"{self.action} {what}"
            else:
                policy, label = (before, f"{code} removed") if gone else (after, f"{code} added")
                rows = [r for r in policy.rows if r.ptype == "p" and r.values[0] == "deny" and r.values[3] == code]
            out.append(f"{label} ({', '.join(f'{r.file}:{r.line}' for r in rows) or 'no row'})")
        return out

    def as_dict(self, before: Policy, after: Policy) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "was": outcome_dict(self.was),
            "now": outcome_dict(self.now),
            "rules": self.rules(before, after),
            "count": self.count,
            "examples": [{"person": p, "document": d} for p, d in self.examples],
        }


@dataclass
class ImpactReport:
    day: date
    persons: int
    documents: int
    actions: tuple[str, ...]
    changes: dict[tuple[str, Outcome, Outcome], Change] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return self.persons * self.documents * len(self.actions)

    @property
    def widening(self) -> int:
        return sum(c.count for c in self.changes.values() if c.kind == "widens")

    def sorted(self) -> list[Change]:
        order = {"widens": 0, "narrows": 1, "reasons changed": 2}
        return sorted(self.changes.values(), key=lambda c: (order[c.kind], -c.count))
