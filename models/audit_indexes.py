"""Indexes for the auditors' queries (gateway/audit/query.py), and the one expression they filter on.

`fact_designation(facts)` is the id of the designation a decision rested on (facts.designation),
rendered the same way in the index and in queries so both databases use the index:
PostgreSQL `(facts ->> 'designation')`, SQLite `json_extract(facts, '$.designation')`.
Each paged filter is indexed together with `seq`, the order of every audit answer (newest first).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Index, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from models.logs import ChangeEvent, DecisionRecord

_DECISIONS = DecisionRecord.__table__  # type: ignore[attr-defined]
_CHANGES = ChangeEvent.__table__  # type: ignore[attr-defined]


class fact_designation(FunctionElement[str]):  # noqa: N801  (an SQL function, named as one)
    """The designation id in a decision's facts (NULL when the decision rested on none)."""

    type = String()
    name = "fact_designation"
    inherit_cache = True


def _argument(element: fact_designation, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(column, **kw))


@compiles(fact_designation, "postgresql")
def _postgresql(element: fact_designation, compiler: Any, **kw: Any) -> str:
    return f"({_argument(element, compiler, **kw)} ->> 'designation')"


@compiles(fact_designation)
def _json_extract(element: fact_designation, compiler: Any, **kw: Any) -> str:  # SQLite, and the default
    return f"json_extract({_argument(element, compiler, **kw)}, '$.designation')"


def decision_designation() -> ColumnElement[str]:
    return fact_designation(_DECISIONS.c.facts)


Index("ix_decisions_logged_at", _DECISIONS.c.logged_at)
Index("ix_decisions_allowed", _DECISIONS.c.allowed, _DECISIONS.c.seq)
Index("ix_decisions_caller", _DECISIONS.c.caller_sub, _DECISIONS.c.seq)
Index("ix_decisions_designation", decision_designation(), _DECISIONS.c.seq)
Index("ix_change_events_at", _CHANGES.c.at)
