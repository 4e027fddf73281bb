"""Provisions of a designation's information to another organ (C5a).

Revision ID: 0005
Revises: 0003

- `provisions`: one row per period, keyed by (designation, receiving organ, first day), as for
  roster entries. Ending a provision sets its last day; a later provision to the same organ starts a
  new period, and the periods as they were before a change are kept in `record_versions`.

A new, empty table: no existing row is changed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "provisions",
        sa.Column("designation_id", ID, sa.ForeignKey("designations.id"), primary_key=True, nullable=False),
        sa.Column("organ_id", ID, sa.ForeignKey("organs.id"), primary_key=True, nullable=False),
        sa.Column("valid_from", sa.Date(), primary_key=True, nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
    )
    op.create_index("ix_provisions_organ_id", "provisions", ["organ_id"])


def downgrade() -> None:
    op.drop_index("ix_provisions_organ_id", "provisions")
    op.drop_table("provisions")
