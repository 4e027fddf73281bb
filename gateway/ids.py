"""Decision ids: ULIDs (sortable by time, 128 bits, Crockford base32)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits at a time: 13 look-ups, not 26 divisions
_SHIFTS = range(120, -1, -10)


def new_ulid() -> str:
    """48 bits of milliseconds, then 80 random bits; 26 characters, the top 2 of 130 bits zero."""
    return new_ulids(1)[0]


def new_ulids(count: int) -> list[str]:
    """`count` ULIDs of this millisecond, with one read of the system's randomness for all of them."""
    millis = int(time.time() * 1000) << 80
    noise = os.urandom(10 * count)
    out = []
    for start in range(0, 10 * count, 10):
        value = millis | int.from_bytes(noise[start : start + 10], "big")
        out.append("".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS]))
    return out
