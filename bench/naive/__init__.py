"""The naive PyCasbin baseline: a plain `casbin.Enforcer` over per-request attribute objects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import casbin

from bench.naive.attributes import Environment, resource, subject
from gateway.decision.facts import Facts
from gateway.registry.snapshot import RegistrySnapshot

HERE = Path(__file__).resolve().parent
MODEL, POLICY = HERE / "model.conf", HERE / "policy.csv"


class NaiveDecider:
    """allow/deny for (person, document, read) on `today`, with nothing cached between requests."""

    def __init__(self, snapshot: RegistrySnapshot, today: date):
        self.enforcer = casbin.Enforcer(str(MODEL), str(POLICY))
        self.snapshot = snapshot
        self.today = today

    def __call__(self, person_id: str, document_id: str) -> bool:
        return self.decide_facts(self.snapshot.facts(person_id, document_id))

    def decide_facts(self, facts: Facts, action: str = "read") -> bool:
        """The same for facts given directly (the differential test builds them)."""
        return bool(self.enforcer.enforce(subject(facts, self.today), resource(facts), action,
                                          Environment(self.today.toordinal())))
