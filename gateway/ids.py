"""Decision ids: ULIDs (sortable by time, 128 bits, Crockford base32)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits at a time: 13 look-ups, not 26 divisions
_SHIFTS = range(120, -1, -10)


def new_ulid() -> str:
    """48 bits of milliseconds, then 80 random bits; 26 characters, the top 2 of 130 bits zero."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
