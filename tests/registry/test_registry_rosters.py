"""Handler rosters (N1) through the administration API: entries added, changed, removed and listed, with
their dates in Japan time; a bad entry is refused and leaves no trace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.admin_calls import call, event_count, one_event
from tests.support import Gateway, assert_problem

# --- N1: rosters ---------------------------------------------------------------------------------


def test_n1_roster_entries_are_added_changed_and_removed_with_their_dates(registry: Gateway) -> None:
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]
    count = event_count(registry)
    added = call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"from": "2026-06-02", "until": "2026-12-31"})
    assert added.status_code == 201, added.text
    assert added.json() == {
        "designation_id": "G-ESI",
        "person_id": "P-NOROSTER",
        "from": "2026-06-02",
        "until": "2026-12-31",
    }
    event = one_event(registry, count)
    assert (event.action, event.entity, event.entity_id, event.before) == (
        "roster.add",
        "roster_entry",
        "G-ESI/P-NOROSTER",
        None,
    )
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]  # from tomorrow
    assert registry.codes("P-NOROSTER", "D-ESI", at="2026-06-02T00:00:00+09:00") == []
    assert registry.codes("P-NOROSTER", "D-ESI", at="2027-01-01T00:00:00+09:00") == ["not_on_roster"]

    count = event_count(registry)
    changed = call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"until": None})  # keeps its start
    assert changed.status_code == 200
    assert (changed.json()["from"], changed.json()["until"]) == ("2026-06-02", None)
    event = one_event(registry, count)
    assert (event.action, event.before["valid_until"], event.after["valid_until"]) == (
        "roster.change",
        "2026-12-31",
        None,
    )
    assert call(registry, "PUT", "/rosters/G-ESI/P-NOROSTER", {"until": None}).status_code == 200
    assert event_count(registry) == count + 1  # the same entry again is no change

    count = event_count(registry)
    removed = call(registry, "DELETE", "/rosters/G-ESI/P-NOROSTER")
    assert removed.json()["deleted"]["from"] == "2026-06-02"
    event = one_event(registry, count)  # N1: the entry is ended, not deleted; it had not begun, so it ends before
    assert (event.action, event.after["valid_from"], event.after["valid_until"]) == (
        "roster.remove",
        "2026-06-02",
        "2026-06-01",
    )
    assert_problem(call(registry, "DELETE", "/rosters/G-ESI/P-NOROSTER"), 404, says="not on the roster")


@pytest.mark.parametrize(
    ("now", "today"), [("2026-06-01T03:00:00+00:00", "2026-06-01"), ("2026-06-01T15:30:00+00:00", "2026-06-02")]
)
def test_a_new_roster_entry_starts_today_in_japan_by_default(registry: Gateway, now: str, today: str) -> None:
    registry.clock.set(now)
    response = call(registry, "PUT", "/rosters/G-SDS/P-NOROSTER")
    assert response.status_code == 201, response.text
    assert (response.json()["from"], response.json()["until"]) == (today, None)


ROSTERS_REFUSED = [
    ("G-ESI", "P-NOROSTER", {"from": "2026-06-01", "until": "2026-05-31"}, 422, "/until", "before from"),
    ("G-ESI", "P-NOROSTER", {"from": "2026-13-01"}, 400, "/from", "date"),
    ("G-ESI", "P-NOROSTER", {"since": "2026-06-01"}, 400, "/since", "Extra"),
    ("G-NOPE", "P-NOROSTER", {}, 404, None, "G-NOPE"),
    ("G-ESI", "P-NOPE", {}, 404, None, "P-NOPE"),
]


@pytest.mark.parametrize(("designation", "person", "body", "status", "pointer", "says"), ROSTERS_REFUSED)
def test_a_bad_roster_entry_is_refused_and_leaves_no_trace(
    registry: Gateway, designation: str, person: str, body: dict[str, Any], status: int, pointer: str | None, says: str
) -> None:
    count = event_count(registry)
    assert_problem(call(registry, "PUT", f"/rosters/{designation}/{person}", body), status, pointer, says=says)
    assert event_count(registry) == count
    assert registry.codes("P-NOROSTER", "D-ESI") == ["not_on_roster"]
