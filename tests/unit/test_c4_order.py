"""C4 written once: which of an organ's assessments of a person counts, for the decision engine and for
the registry's expiry report alike (gateway.decision.engine.recency)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from gateway.decision.engine import recency


def _assessment(day: str, result: str = "favourable", status: str = "active") -> SimpleNamespace:
    return SimpleNamespace(notified_on=date.fromisoformat(day), result=result, status=status)


@pytest.mark.parametrize(
    ("earlier", "later", "why"),
    [
        (_assessment("2026-06-01", "unfavourable"), _assessment("2026-06-02"), "a later day counts, whatever it says"),
        (_assessment("2026-06-01"), _assessment("2026-06-01", "unfavourable"), "one day: unfavourable over favourable"),
        (_assessment("2026-06-01"), _assessment("2026-06-01", status="suspended"), "one day: suspended over active"),
        (_assessment("2026-06-01", status="suspended"), _assessment("2026-06-01", status="revoked"),
         "one day: revoked over suspended"),
        (_assessment("2026-06-01", status="suspended"), _assessment("2026-06-01", status="withdrawn?"),
         "one day: a status the gateway does not know is the strictest (fail closed)"),
        (_assessment("2028-02-28"), _assessment("2028-02-29"), "the leap day is a day like any other"),
    ],
)
def test_the_assessment_that_counts(earlier: SimpleNamespace, later: SimpleNamespace, why: str) -> None:
    assert recency(later) > recency(earlier), why
    assert max([earlier, later], key=recency) is later


def test_the_expiry_report_orders_assessments_by_the_engines_rule() -> None:
    from gateway.registry import expiring

    assert expiring.recency is recency  # one rule: the report cannot disagree with the decisions
