"""C3: validity windows counted by the Civil Code, in Japan time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decision.calendar import local_day, validity_ends_on

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("notified", "years", "last_valid_day"),
    [
        (date(2025, 6, 1), 10, date(2035, 6, 1)),  # C3's first example
        (date(2024, 2, 29), 10, date(2034, 2, 28)),  # C3's leap-day example
        (date(2025, 6, 1), 5, date(2030, 6, 1)),  # SDS, five years, the same way
        (date(2024, 2, 28), 10, date(2034, 2, 28)),  # starts 29 Feb, no 29 Feb in 2034: month's last day
        (date(2025, 5, 31), 10, date(2035, 5, 31)),  # period starting on the 1st ends on a month's last day
        (date(2025, 12, 31), 10, date(2035, 12, 31)),  # across a year end
        (date(2028, 2, 29), 5, date(2033, 2, 28)),
    ],
)
def test_validity_ends_on_the_civil_code_day(notified: date, years: int, last_valid_day: date) -> None:
    assert validity_ends_on(notified, years) == last_valid_day


def test_the_2023_case_is_the_day_before_1_march_2028() -> None:
    # 2028 is a leap year: the day before 1 March 2028 is 29 February 2028.
    assert validity_ends_on(date(2023, 2, 28), 5) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("notified", "years", "last_valid_day"),
    [
        (date(2025, 6, 1), 10, date(2035, 5, 31)),  # the day before the anniversary
        (date(2023, 2, 28), 5, date(2028, 2, 27)),  # not 28 Feb 2028, the anniversary itself (issue 11.12)
        (date(2027, 2, 28), 5, date(2032, 2, 27)),  # the same into a leap year
        (date(2026, 2, 28), 5, date(2031, 2, 27)),  # and into a common year
        (date(2028, 2, 29), 10, date(2038, 2, 27)),  # no 29 Feb in 2038: the anniversary is 28 Feb (earlier)
        (date(2028, 2, 29), 4, date(2032, 2, 28)),  # 29 Feb 2032 exists: the day before it
        (date(2025, 3, 1), 5, date(2030, 2, 28)),
        (date(2027, 3, 1), 5, date(2032, 2, 29)),  # the eve of 1 March in a leap year is 29 Feb
    ],
)
def test_conservative_reading_denies_from_the_notification_days_anniversary(
    notified: date, years: int, last_valid_day: date
) -> None:
    assert validity_ends_on(notified, years, "eve_of_anniversary") == last_valid_day


def test_unknown_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown period reading"):
        validity_ends_on(date(2025, 6, 1), 10, "sometime")


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        (datetime(2035, 6, 1, 15, 30, tzinfo=UTC), date(2035, 6, 2)),  # C3: 15:30Z is 00:30 JST next day
        (datetime(2035, 6, 1, 14, 59, 59, tzinfo=UTC), date(2035, 6, 1)),
        (datetime(2035, 6, 2, 0, 30, tzinfo=TOKYO), date(2035, 6, 2)),
        (datetime(2035, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=-7))), date(2035, 6, 2)),
    ],
)
def test_local_day_is_counted_in_japan(instant: datetime, day: date) -> None:
    assert local_day(instant, TOKYO) == day


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_day(datetime(2035, 6, 1, 12, 0), TOKYO)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2080, 12, 31)), st.sampled_from([5, 10]))
def test_validity_is_about_n_years_and_monotonic(notified: date, years: int) -> None:
    last = validity_ends_on(notified, years)
    span = (last - notified).days
    assert 365 * years - 1 <= span <= 365 * years + years // 4 + 2
    # the same calendar day N years on, or the month's last day when that day does not exist
    assert last.month == notified.month or (notified.month, notified.day) == (2, 29) or last.day >= 28
    assert validity_ends_on(notified + timedelta(days=1), years) >= last
    eve = validity_ends_on(notified, years, "eve_of_anniversary")
    assert last - timedelta(days=2) <= eve <= last - timedelta(days=1)  # 2 days only after a 28 Feb notification
    anniversary = notified.replace(year=notified.year + years) if (notified.month, notified.day) != (2, 29) else None
    if anniversary is not None:
        assert eve == anniversary - timedelta(days=1)  # denied from the anniversary on, never on it


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2070, 1, 1), timezones=st.just(UTC)))
def test_same_instant_in_utc_and_jst_is_the_same_day(instant: datetime) -> None:
    assert local_day(instant, TOKYO) == local_day(instant.astimezone(TOKYO), TOKYO)
