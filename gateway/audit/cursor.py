"""Opaque page cursors: base64url of {which log, the last seq seen, a digest of the query's filters}.

A cursor only continues the query that made it: garbage, a cursor of the other log, or one made under
other filters is refused (ValueError, which the API answers with a 400 problem).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import orjson

from gateway.limits import MAX_SEQ

MAX_LENGTH = 200


def _digest(query_key: str) -> str:
    return hashlib.sha256(query_key.encode()).hexdigest()[:16]


def make_cursor(log: str, seq: int, query_key: str) -> str:
    payload = orjson.dumps({"l": log, "s": seq, "q": _digest(query_key)})
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def read_cursor(log: str, cursor: str, query_key: str) -> int:
    """The seq to continue below."""
    if len(cursor) > MAX_LENGTH:
        raise ValueError("not a cursor this gateway gave out")
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a cursor this gateway gave out") from exc
    if not isinstance(payload, dict) or set(payload) != {"l", "s", "q"}:
        raise ValueError("not a cursor this gateway gave out")
    seq = payload["s"]
    if payload["l"] != log or type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"not a cursor of the {log} log")
    if payload["q"] != _digest(query_key):
        raise ValueError("the cursor belongs to a query with other filters: repeat those, or start without a cursor")
    return seq
