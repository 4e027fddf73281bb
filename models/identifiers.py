"""The id alphabet: what an id may be, for every registry record and every id a caller asks about.

An id is 1 to 64 ASCII characters: a letter or digit, then letters, digits and `. _ : @ -`. Nothing
else: no whitespace, no control or zero-width characters, no full-width or other look-alike letters
(`Ｐ-0001` is not `P-0001`), none of `/ \\ ? # %` that mean something in a URL. One rule, so that an id
an administrator can create is exactly an id a caller can ask about, and nothing else reaches a
decision, the decision memo or the log.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 64
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}"
_ID = re.compile(ID_PATTERN)
RULE = "an id is 1 to 64 ASCII letters, digits and . _ : @ - , starting with a letter or digit"


def id_error(value: object) -> str | None:
    """Why `value` is not an id, or None when it is one."""
    if not isinstance(value, str) or not value:
        return "an id is a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"an id is at most {MAX_ID_LENGTH} characters ({RULE})"
    if _ID.fullmatch(value) is None:
        return RULE
    return None


def check_id(value: str) -> str:
    """`value` if it is an id; ValueError naming the rule otherwise (for pydantic validators)."""
    error = id_error(value)
    if error is not None:
        raise ValueError(error)
    return value


def clip_id(value: str, limit: int = MAX_ID_LENGTH) -> str:
    """An id as a message may quote it: never longer than an id can be, control characters escaped."""
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return shown.encode("unicode_escape").decode("ascii") if not shown.isprintable() else shown
