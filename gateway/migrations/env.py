"""What Alembic runs for each command: migrate over the connection that gateway.db hands over.

There is no URL and no offline (`--sql`) mode here: the gateway chooses the database, takes the
lock and owns the transaction, so a whole upgrade commits or rolls back as one.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import models  # noqa: F401  (every table on SQLModel.metadata, for autogenerate)
from models.types import UTCDateTime


def render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes the SQL type a column is stored as, not the models' Python type, so a
    revision keeps its meaning whatever later becomes of models/."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # Drafts come out as batch operations, which SQLite needs (it alters a table by copying it) and
    # PostgreSQL runs as plain ALTER TABLE: one revision serves both.
    render_as_batch=True,
    render_item=render_item,
)
with context.begin_transaction():  # a no-op inside the caller's transaction, which is the rule
    context.run_migrations()
