"""The registry as it stood on any day: roster periods, status periods, earlier versions of records.

Revision ID: 0003
Revises: 0001

- `roster_entries` is keyed by (designation, person, valid_from): a removal ends an entry and a later
  addition starts another period, so one person may hold several periods on one roster.
- `status_periods`: every status an assessment (C7) or certification (B3) has had, from the instant
  it was recorded on. Each existing record gets its current status as its first period, which (as
  for any first period) holds from the record's own date.
- `record_versions`: a designation, contract or roster entry as it was before a change replaced it.

Both new tables are append-only, like the logs and the ledger. No existing row is changed or lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(64)
TIME = sa.DateTime(timezone=True)
NEW_APPEND_ONLY = ("status_periods", "record_versions")
ROSTER_COLUMNS = ("designation_id", "person_id", "valid_from", "valid_until")


def required(name: str, type_: Any, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, *args, nullable=False, **kw)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _roster_periods(dialect)
    _status_periods(dialect)
    op.create_table(
        "record_versions",
        required("seq", sa.Integer(), primary_key=True),
        required("entity", sa.String(16)),
        required("entity_id", sa.String(200)),
        required("record", sa.JSON()),
        required("superseded_at", TIME),
    )
    op.create_index("ix_record_versions_entity", "record_versions", ["entity", "entity_id"])
    _append_only(dialect)


def downgrade() -> None:
    raise RuntimeError(
        "0003 cannot be undone: it would drop the registry's history (status periods, earlier versions, "
        "ended roster periods). Restore the backup taken before the upgrade instead."
    )


def _roster_periods(dialect: str) -> None:
    """The primary key gains valid_from. SQLite cannot alter a primary key: the table is copied."""
    if dialect == "postgresql":
        op.drop_constraint("roster_entries_pkey", "roster_entries", type_="primary")
        op.create_primary_key("roster_entries_pkey", "roster_entries", ["designation_id", "person_id", "valid_from"])
        return
    op.create_table(
        "roster_entries_0003",
        required("designation_id", ID, sa.ForeignKey("designations.id"), primary_key=True),
        required("person_id", ID, sa.ForeignKey("persons.id"), primary_key=True),
        required("valid_from", sa.Date(), primary_key=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
    )
    columns = ", ".join(ROSTER_COLUMNS)
    op.execute(f"INSERT INTO roster_entries_0003 ({columns}) SELECT {columns} FROM roster_entries")
    op.drop_index("ix_roster_entries_person_id", "roster_entries")
    op.drop_table("roster_entries")
    op.rename_table("roster_entries_0003", "roster_entries")
    op.create_index("ix_roster_entries_person_id", "roster_entries", ["person_id"])


def _status_periods(dialect: str) -> None:
    periods = op.create_table(
        "status_periods",
        required("seq", sa.Integer(), primary_key=True),
        required("entity", sa.String(16)),
        required("entity_id", ID),
        required("status", sa.String(16)),
        required("starts_on", sa.Date()),
        required("recorded_at", TIME),
    )
    op.create_index("ix_status_periods_entity", "status_periods", ["entity", "entity_id"])
    now = datetime.now(UTC)
    recorded = now.replace(tzinfo=None) if dialect == "sqlite" else now  # as models.types.UTCDateTime stores it
    for entity, table, day in (
        ("assessment", "assessments", "notified_on"),
        ("certification", "certifications", "certified_on"),
    ):
        source = sa.table(table, sa.column("id"), sa.column("status"), sa.column(day))
        op.execute(
            periods.insert().from_select(
                ["entity", "entity_id", "status", "starts_on", "recorded_at"],
                sa.select(
                    sa.literal(entity, sa.String(16)),
                    source.c.id,
                    source.c.status,
                    source.c[day],
                    sa.literal(recorded, TIME),
                ).order_by(source.c.id),
            )
        )


def _append_only(dialect: str) -> None:
    """Like the logs (0001): rows are added, never changed or removed."""
    for table in NEW_APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
            continue
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION cg_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION cg_append_only()"
        )
