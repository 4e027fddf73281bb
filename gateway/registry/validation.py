"""Registry rules that do not fit in a field's type: check digits (B1), what may not reach back (D2, D3), the
ESI Act's start. Designation periods (D2) and categories (D4) are policy: RegistryRules."""

from __future__ import annotations

from datetime import date

from gateway.decision.calendar import period_end
from gateway.decision.policy_registry import RegistryRules

__all__ = ["RegistryRules", "period_end"]  # D2's periods and D4's catalogue are policy (policy_registry.py)


def corporate_number_is_valid(number: str) -> bool:
    """B1: a 13-digit corporate number (法人番号) whose first digit checks the other twelve."""
    return len(number) == 13 and number.isdigit() and int(number[0]) == expected_check_digit(number)


def expected_check_digit(number: str) -> int:
    """B1: the first digit a 13-digit corporate number must have, given its other twelve.

    check = 9 - (sum of the twelve digits, weighted 1 and 2 alternately from the last one) mod 9.
    """
    body = number[1:]
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body)))
    return 9 - total % 9


def expired_problem(designation_id: str, expires_on: date, today: date) -> str | None:
    """D2, D3: an extension is made while the designation is in force; one that expired stays expired
    (a new designation is made instead)."""
    if expires_on < today:
        return (
            f"designation {designation_id} expired on {expires_on}; an extension is made while it is in force "
            "(D2, D3): make a new designation instead"
        )
    return None


def backdated_problem(cancelled_on: date, today: date) -> str | None:
    """D3, D6: a cancellation takes effect today or later; dating it back would rewrite the basis of
    decisions already made and the figures already reported."""
    if cancelled_on < today:
        return (
            f"a cancellation takes effect today ({today}) or later, not on {cancelled_on}: a cancellation "
            "dated back would change decisions already made and logged (D3, D6)"
        )
    return None


ESI_ACT_IN_FORCE = date(2025, 5, 16)  # the ESI Act's operative provisions took effect on this day


def before_act_problem(scheme: str, day: date, transitional: bool, what: str) -> str | None:
    """An ESI record dated before the ESI Act took effect cannot exist, unless it is carried over on
    purpose and marked so (`"transitional": true`)."""
    if scheme != "esi" or day >= ESI_ACT_IN_FORCE or transitional:
        return None
    return (
        f"an ESI {what} on {day} predates the ESI Act ({ESI_ACT_IN_FORCE}); correct the date, or mark the "
        'record "transitional": true if it is carried over on purpose'
    )
