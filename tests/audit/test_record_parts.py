"""A record made from its parts (the decision service's path: the caller masked once a request, a
question's columns kept beside its decision) is the record `DecisionEntry.of` makes and `serialized`
prepares: the same masking, the same bytes for the chain to hash."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.record import Asker, Columns, DecisionEntry, record_of, serialized

_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)  # past the id columns' 256: clipped
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_REASONS = st.lists(st.fixed_dictionaries({"code": st.text(max_size=20), "message": st.text(max_size=40)}), max_size=3)
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9))])


@settings(max_examples=200, deadline=None)
@given(
    sub=_TEXT, client=st.none() | _TEXT, request_id=st.none() | _TEXT, person=_TEXT, document=_TEXT, action=_TEXT,
    reasons=_REASONS, facts=st.dictionaries(st.text(max_size=10), _JSON, max_size=4),
    inputs=st.none() | st.dictionaries(st.text(max_size=10), _JSON, max_size=4), allowed=st.booleans(),
    simulation=st.booleans(), at=st.datetimes(timezones=_ZONES), latency=st.integers(0, 2**40),
)  # fmt: skip
def test_a_record_from_its_parts_is_the_record_of_its_fields(
    sub: str, client: str | None, request_id: str | None, person: str, document: str, action: str,
    reasons: list[dict[str, str]], facts: dict[str, Any], inputs: dict[str, Any] | None, allowed: bool,
    simulation: bool, at: datetime, latency: int,
) -> None:  # fmt: skip
    logged_at = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    whole = DecisionEntry.of(
        decision_id="01J", logged_at=logged_at, evaluated_at=at, caller_sub=sub, caller_client=client,
        request_id=request_id, channel="authzen", person_id=person, document_id=document, action=action,
        allowed=allowed, reasons=reasons, policy_version="sha256:p", facts=facts, inputs=inputs,
        simulation=simulation, latency_us=latency,
    )  # fmt: skip
    asker = Asker.of(sub, client, request_id, "authzen")
    columns = Columns.of(person, document, action, reasons, facts, inputs)
    parts = record_of("01J", logged_at, at, asker, columns, allowed, "sha256:p", simulation, latency)
    assert parts == serialized(whole)
    assert [type(v) for v in parts] == [type(v) for v in serialized(whole)]


def test_a_long_or_unprintable_id_is_masked_in_its_columns() -> None:
    columns = Columns.of("P-" + "9" * 300, "D-\x00E", "read", [], {}, None)
    assert len(columns.person_id) == 256 and columns.person_id.endswith("…(truncated)")
    assert columns.document_id == "D-\\x00E"
    assert columns.inputs is None and columns.reasons == b"[]" and columns.reason_codes == ""


def test_kept_columns_take_about_their_own_size_in_memory() -> None:
    """The memo keeps a question's columns for as long as its snapshot: a few hundred bytes each, not the
    4 KB block orjson writes into."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [Columns.of(f"P-{i}", "D-E", "read", [{"code": "not_on_roster", "message": "not on the roster"}],
                           {"roster": None, "designation": "G-E", "registry_version": i}, {"person": [f"P-{i}"]})
                for i in range(500)]  # fmt: skip
        each = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert each < 1_500, f"{each:.0f} bytes a question's columns"
