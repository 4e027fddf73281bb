"""Changes with a legal meaning of their own, each one transaction with its change event (R4): suspending,
reinstating and revoking an assessment (C7) or a certification (B3), and extending (D2) or cancelling
(D3, D6) a designation. A refusal raises before anything is written."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, update

from gateway.errors import Conflict, FieldError, RefusedData
from gateway.registry.admin import SINGULAR, existing_record, ledger_entry, record_event, writing
from gateway.registry.changes import Actor
from gateway.registry.recording import record_statuses, record_versions
from gateway.registry.tables import T
from gateway.registry.transitions import TRANSITIONS, refused_transition
from gateway.registry.validation import RegistryRules, backdated_problem, expired_problem


def transition(engine: Engine, actor: Actor, plural: str, entity_id: str, name: str) -> dict[str, Any]:
    """Suspend, reinstate or revoke an assessment (C7) or a certification (B3): {"before", "after"}."""
    sources, target = TRANSITIONS[name]
    table = T[plural]
    with writing(engine) as conn:
        before = existing_record(conn, plural, entity_id, lock=True)
        if before["status"] not in sources:
            raise refused_transition(plural, entity_id, before["status"], name)
        conn.execute(update(table).where(table.c.id == entity_id).values(status=target))
        record_statuses(conn, actor, SINGULAR[plural], [(entity_id, target, None)])
        after = {**before, "status": target}
        record_event(conn, actor, f"{SINGULAR[plural]}.{name}", SINGULAR[plural], entity_id, before, after)
    return {"before": before, "after": after}


def extend(
    engine: Engine,
    actor: Actor,
    designation_id: str,
    expires_on: date,
    cabinet_approval_ref: str | None,
    today: date,
    rules: RegistryRules,
) -> dict[str, Any]:
    """D2: push a designation's expiry out within the policy's limits for its scheme (by default five
    years at a time; past thirty in all only with a Cabinet approval)."""
    ref = (cabinet_approval_ref or "").strip() or None
    table = T["designations"]
    with writing(engine) as conn:
        before = existing_record(conn, "designations", designation_id, lock=True)
        if before["cancelled_on"] is not None:
            raise Conflict(
                f"designation {designation_id} was cancelled on {before['cancelled_on']}; it cannot be extended"
            )
        expired = expired_problem(designation_id, before["expires_on"], today)
        if expired:
            raise Conflict(expired)
        problem = rules.extension_problem(
            before["scheme"], before["designated_on"], before["expires_on"], expires_on, ref
        )
        if problem:
            raise RefusedData(
                f"designation {designation_id} cannot be extended to {expires_on}; nothing was changed",
                [FieldError(("expires_on",), problem)],
            )
        conn.execute(update(table).where(table.c.id == designation_id).values(expires_on=expires_on))
        record_versions(conn, actor, "designation", {designation_id: before})
        ledger_entry(conn, designation_id, "extended", today, expires_on, ref)
        after = {**before, "expires_on": expires_on}
        record_event(
            conn,
            actor,
            "designation.extend",
            "designation",
            designation_id,
            before,
            after | {"cabinet_approval_ref": ref},
        )
    return after


def cancel(engine: Engine, actor: Actor, designation_id: str, cancelled_on: date) -> dict[str, Any]:
    """D3, D6: cancel (解除) a designation from a day on; recorded once, never undone."""
    table = T["designations"]
    with writing(engine) as conn:
        before = existing_record(conn, "designations", designation_id, lock=True)
        if before["cancelled_on"] is not None:
            raise Conflict(
                f"designation {designation_id} was already cancelled on {before['cancelled_on']}; a cancellation "
                "is recorded once (D6)",
                extra={"cancelled_on": before["cancelled_on"].isoformat()},
            )
        _, today = actor.moment()
        if cancelled_on < before["designated_on"]:
            problem = f"{cancelled_on} is before the designation was made, {before['designated_on']}"
        elif late := backdated_problem(cancelled_on, today):
            problem = late
        elif cancelled_on > before["expires_on"]:
            problem = f"the designation expires on {before['expires_on']}; there is nothing to cancel after that"
        else:
            problem = None
        if problem:
            raise RefusedData(
                f"designation {designation_id} cannot be cancelled on {cancelled_on}",
                [FieldError(("cancelled_on",), problem)],
            )
        conn.execute(update(table).where(table.c.id == designation_id).values(cancelled_on=cancelled_on))
        record_versions(conn, actor, "designation", {designation_id: before})
        ledger_entry(conn, designation_id, "cancelled", cancelled_on, None, None)
        after = {**before, "cancelled_on": cancelled_on}
        record_event(conn, actor, "designation.cancel", "designation", designation_id, before, after)
    return after
