"""Days and periods: rule C3 (Civil Code Arts. 140 and 143) and the local calendar day of an instant."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)

# How a validity period's last day is read (a policy choice, see policy/policy.csv, p2 rows):
#   anniversary         the Civil Code reading: valid through the day that corresponds to the
#                       notification day, N years on (notified 2025-06-01, 10 years: through 2035-06-01)
#   eve_of_anniversary  a conservative reading: denied from that anniversary on (through 2035-05-31)
PERIOD_READINGS = ("anniversary", "eve_of_anniversary")


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar day of an aware instant in the zone where days are counted (C3: Japan time)."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no calendar day: give a time zone")
    return instant.astimezone(zone).date()


def validity_ends_on(notified_on: date, years: int, reading: str = "anniversary") -> date:
    """The last day on which an assessment notified on `notified_on` is valid (C3).

    Art. 140: the day of notification is not counted, so the period starts the next day.
    Art. 143: it ends on the day before the day corresponding to that start, `years` later; when the
    final month has no such day (a start on 29 February), it ends on that month's last day.
    """
    if reading == "eve_of_anniversary":
        # Denied from the notification day's anniversary on. Counted from the notification day itself,
        # not as "the Civil Code's last day minus one": after a 28 February notification that last day
        # is 29 February in a leap year, the day after the anniversary. A 29 February notification's
        # anniversary in a common year is 28 February (the earlier reading, fail closed).
        try:
            anniversary = notified_on.replace(year=notified_on.year + years)
        except ValueError:
            anniversary = date(notified_on.year + years, 2, 28)
        return anniversary - ONE_DAY
    if reading != "anniversary":
        raise ValueError(f"unknown period reading {reading!r}; expected one of {PERIOD_READINGS}")
    return period_end(notified_on + ONE_DAY, years)


def period_end(first_day: date, years: int) -> date:
    """Art. 143: the last day of a period of `years` years whose first counted day is `first_day`: the
    day before the corresponding day, or, when the final month has none (a start on 29 February), that
    month's last day. C3's validity and D2's designation periods both end so."""
    try:
        return first_day.replace(year=first_day.year + years) - ONE_DAY
    except ValueError:  # 29 February in a common year
        return date(first_day.year + years, first_day.month, 28)
