"""Ids in requests: refused before anything is decided, memoized or logged (models/identifiers.py).

`id_errors` is the one check every route that takes an id from a caller uses: AuthZEN evaluations
(each item of a batch too) and document releases. A bad id is a 400 problem naming its field.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import FieldError, InvalidInput
from models.identifiers import id_error


def id_errors(*fields: tuple[tuple[Any, ...], object]) -> list[FieldError]:
    """One FieldError per (location, value) whose value breaks the id rules."""
    errors = []
    for location, value in fields:
        error = id_error(value)
        if error is not None:
            errors.append(FieldError(location, error))
    return errors


def require_ids(*fields: tuple[tuple[Any, ...], object]) -> None:
    """InvalidInput (400) naming every field whose id breaks the rules."""
    errors = id_errors(*fields)
    if errors:
        raise InvalidInput("an id breaks the id rules, so nothing was decided", errors)
