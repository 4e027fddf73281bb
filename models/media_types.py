"""RFC 9110 §8.3.1 media types: `type/subtype` with optional `; name=value` parameters, ASCII only.

A document's media type goes back out as a Content-Type header on every release, so anything a header
cannot carry (CR, LF, NUL, non-ASCII) must never be stored.
"""

from __future__ import annotations

import re

MAX_LENGTH = 200
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
_PARAMETER = rf"[ \t]*;[ \t]*(?:{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))?"
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}(?:{_PARAMETER})*")
RULE = "a media type reads type/subtype with optional ; name=value parameters (RFC 9110), e.g. application/pdf"


def check_media_type(value: str) -> str:
    """`value` if it is an RFC 9110 media type of at most MAX_LENGTH characters; ValueError otherwise."""
    if len(value) > MAX_LENGTH or _MEDIA_TYPE.fullmatch(value) is None:
        raise ValueError(RULE)
    return value
