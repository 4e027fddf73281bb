"""Corrections of a past record (D3, D6): the one way a designation's cancellation is dated back.

A cancellation made through `cancel` takes effect today or later, since a cancellation dated back would
change the ground of decisions already made and logged. When a cancellation really took effect earlier
(it was made on paper and recorded late, or recorded with the wrong day), an administrator corrects
the record: a separate action, with a reason, entered in the designation's ledger (`corrected`) and in
the change log (`designation.correct`, the reason in its `after`). The version it replaces is kept, so
a decision about an instant before the correction is still decided as the gateway knew it then, and
the decisions logged before keep the basis they were made on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, update

from gateway.errors import FieldError, RefusedData
from gateway.registry.admin import existing_record, ledger_entry, record_event, writing
from gateway.registry.changes import Actor
from gateway.registry.recording import record_versions
from gateway.registry.tables import T

MAX_REASON = 500


def correct_cancellation(
    engine: Engine, actor: Actor, designation_id: str, cancelled_on: date, reason: str
) -> dict[str, Any]:
    """D3, D6: set the day a designation's cancellation took effect, in the past if it must be, with
    the reason for the correction. A cancellation is never undone by a correction."""
    reason = reason.strip()
    table = T["designations"]
    with writing(engine) as conn:
        before = existing_record(conn, "designations", designation_id, lock=True)
        errors = []
        if not reason:
            errors.append(FieldError(("reason",), "a correction says why: give the reason (D6)"))
        elif len(reason) > MAX_REASON:
            errors.append(FieldError(("reason",), f"a reason is at most {MAX_REASON} characters"))
        if not before["designated_on"] <= cancelled_on <= before["expires_on"]:
            errors.append(
                FieldError(
                    ("cancelled_on",),
                    f"a cancellation takes effect within the designation's period, {before['designated_on']} "
                    f"to {before['expires_on']}",
                )
            )
        elif before["cancelled_on"] == cancelled_on:
            errors.append(FieldError(("cancelled_on",), f"the cancellation is already recorded on {cancelled_on}"))
        if errors:
            raise RefusedData(
                f"designation {designation_id} cannot be corrected so; nothing was changed", errors)
        conn.execute(update(table).where(table.c.id == designation_id).values(cancelled_on=cancelled_on))
        record_versions(conn, actor, "designation", {designation_id: before})
        ledger_entry(conn, designation_id, "corrected", cancelled_on, None, None)
        after = {**before, "cancelled_on": cancelled_on}
        record_event(
            conn, actor, "designation.correct", "designation", designation_id, before, after | {"reason": reason}
        )
    return after
