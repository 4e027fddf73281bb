"""ESI records dated before the ESI Act took effect are marked transitional (issue 11.8).

Revision ID: 0006
Revises: 0005

- `assessments.transitional`, `designations.transitional`: a record dated before 2025-05-16 under
  the ESI scheme is accepted only with this mark (a record carried over on purpose). Records already
  in the database that an earlier gateway accepted with such a date get the mark, so that the same
  bundle imports again unchanged; every other record gets false. No row is lost.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ESI_IN_FORCE = date(2025, 5, 16)
DATED = {"assessments": "notified_on", "designations": "designated_on"}


def upgrade() -> None:
    for table, day in DATED.items():
        op.add_column(table, sa.Column("transitional", sa.Boolean(), nullable=False, server_default="0"))
        records = sa.table(table, sa.column("scheme"), sa.column(day, sa.Date()), sa.column("transitional"))
        op.execute(
            records.update()
            .where(records.c.scheme == "esi", records.c[day] < sa.bindparam("floor", ESI_IN_FORCE, sa.Date()))
            .values(transitional=True)
        )


def downgrade() -> None:
    for table in DATED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("transitional")
