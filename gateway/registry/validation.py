"""Registry rules that do not fit in a field's type: check digits (B1) and designation periods (D2)."""

from __future__ import annotations

from datetime import date, timedelta

FIRST_PERIOD_YEARS = 5
EXTENSION_YEARS = 5
TOTAL_YEARS_WITHOUT_CABINET = 30


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


def years_after(start: date, years: int) -> date:
    """The last day of a period of `years` years that includes `start` (29 Feb runs to 28 Feb)."""
    try:
        return start.replace(year=start.year + years) - timedelta(days=1)
    except ValueError:
        return date(start.year + years, 2, 28)


def first_period_problem(designated_on: date, expires_on: date) -> str | None:
    """D2: the first period ends on or after its start and lasts at most five years."""
    if expires_on < designated_on:
        return f"expires_on {expires_on} is before designated_on {designated_on}"
    limit = years_after(designated_on, FIRST_PERIOD_YEARS)
    if expires_on > limit:
        return f"the first period may run at most {FIRST_PERIOD_YEARS} years: through {limit} at the latest (D2)"
    return None


def extension_problem(
    designated_on: date, current_expiry: date, new_expiry: date, cabinet_ref: str | None
) -> str | None:
    """D2: each extension adds at most five years; beyond thirty in total only with Cabinet approval."""
    if new_expiry <= current_expiry:
        return f"the new expires_on {new_expiry} does not extend the current one, {current_expiry}"
    step = years_after(current_expiry + timedelta(days=1), EXTENSION_YEARS)
    if new_expiry > step:
        return f"an extension adds at most {EXTENSION_YEARS} years: through {step} at the latest (D2)"
    cap = years_after(designated_on, TOTAL_YEARS_WITHOUT_CABINET)
    if new_expiry > cap and not cabinet_ref:
        return f"beyond {cap}, thirty years from designation, an extension needs a cabinet_approval_ref (D2)"
    return None


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
