"""Decision ids: Crockford base32 ULIDs, sortable by the time they were made."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from gateway import ids


def reference(value: int) -> str:
    """The ULID encoding spelled out: 26 base-32 digits, most significant first."""
    digits = []
    for _ in range(26):
        value, rest = divmod(value, 32)
        digits.append(ids._ALPHABET[rest])
    return "".join(reversed(digits))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_encoding_is_crockford_base32_of_the_128_bits(value: int) -> None:
    assert "".join(ids._PAIRS[(value >> shift) & 1023] for shift in ids._SHIFTS) == reference(value)


def test_ids_made_later_sort_later() -> None:
    first = ids.new_ulid()
    time.sleep(0.002)
    second = ids.new_ulid()
    assert len(first) == len(second) == 26
    assert first < second
    assert set(first + second) <= set(ids._ALPHABET)


def test_a_batch_of_ids_is_distinct_and_sorts_after_the_ids_before_it() -> None:
    first = ids.new_ulid()
    time.sleep(0.002)
    batch = ids.new_ulids(1000)
    assert len(set(batch)) == 1000 and all(len(i) == 26 and first < i for i in batch)
