"""The facts a decision rested on, as the log keeps them for replay (R1): named fields with their shape's
version (2), and the positional arrays of version 1, which rows logged by earlier gateways hold, still read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generator import Shape, generate_bundle
from gateway.decision.engine import decide
from gateway.decision.facts import INPUTS_VERSION, facts_from_record, facts_record
from gateway.policy.files import load_policy
from gateway.policy.replay import DiffReport, replay
from gateway.registry.loading import snapshot_from_bundle
from models.bundle import Bundle
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR

POLICY = load_policy(POLICY_DIR)
TODAY = date(2026, 12, 4)

# A record as gateway version 1 logged it (fields by position), for P-OK reading D-ESI of the rules registry.
V1 = {
    "person": ["P-OK", "government", "METI", None, None, None],
    "document": ["D-ESI", "G-ESI"],
    "designation": ["G-ESI", "METI", "esi", "2025-06-01", "2030-05-31", None],
    "assessments": [["A-OK", "METI", "esi", "favourable", "2025-06-01", "active"]],
    "certifications": [],
    "contracts": [],
    "roster": ["G-ESI", "P-OK", "2025-06-01", None],
}


def test_a_record_names_each_field_and_its_version() -> None:
    snapshot = snapshot_from_bundle(Bundle.model_validate(rules_bundle()))
    record = facts_record(snapshot.facts("C-OK", "D-ESI"))
    assert record["inputs_version"] == INPUTS_VERSION == 2
    assert record["person"] == {"id": "C-OK", "kind": "contractor", "organ_id": None, "operator_id": "ACME",
                                "department": "R&D", "office": None}  # fmt: skip
    assert record["designation"]["expires_on"] == "2030-05-31"
    assert record["contracts"][0]["designation_ids"] == sorted(record["contracts"][0]["designation_ids"])
    assert set(record["roster"]) == {"designation_id", "person_id", "valid_from", "valid_until", "earlier"}


def test_a_version_1_record_still_reads_and_decides_as_it_did() -> None:
    facts = facts_from_record("P-OK", "D-ESI", V1)
    assert facts.designation is not None and facts.designation.expires_on == date(2030, 5, 31)
    assert facts.assessments[0].notified_on == date(2025, 6, 1)
    assert decide(facts, "read", date(2026, 6, 1), POLICY).allowed is True
    assert decide(facts, "read", date(2030, 6, 1), POLICY).codes == ("designation_not_in_force",)
    rows = [{"decision_id": "01", "person_id": "P-OK", "document_id": "D-ESI", "action": "read",
             "evaluated_at": datetime(2026, 6, 1, 3, tzinfo=UTC),
             "allowed": True, "reason_codes": "", "inputs": V1, "channel": "authzen", "facts": {}}]  # fmt: skip
    report = replay(rows, POLICY, ZoneInfo("Asia/Tokyo"), DiffReport())
    assert (report.replayed, report.unchanged) == (1, 1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), offset=st.integers(-500, 500))
def test_a_record_reads_back_to_the_same_decision(seed: int, offset: int) -> None:
    snapshot = snapshot_from_bundle(Bundle.model_validate(generate_bundle(Shape.for_persons(40), TODAY, seed=seed)))
    day = TODAY + timedelta(days=offset)
    documents = sorted(snapshot.documents)[:12]
    for person in sorted(snapshot.persons)[:40]:
        for document in documents:
            facts = snapshot.facts(person, document)
            again = facts_from_record(person, document, facts_record(facts))
            assert decide(again, "read", day, POLICY).reason_dicts == decide(facts, "read", day, POLICY).reason_dicts
            assert decide(again, "read", day, POLICY).allowed == decide(facts, "read", day, POLICY).allowed
