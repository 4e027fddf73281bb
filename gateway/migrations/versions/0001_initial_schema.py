"""The initial schema: registry, documents, the logs with their append-only guards, the chain heads.

Revision ID: 0001
Revises: (none)

The SQL types are written out (a String where models/ say `str`, DateTime(timezone=True) where they
say UTCDateTime) so that this revision means the same whatever models/ become later.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)  # an id an administrator chooses
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autonumbers only INTEGER PRIMARY KEY
TIME = sa.DateTime(timezone=True)  # always UTC (models.types.UTCDateTime)
HASH = sa.String(64)  # sha256, hex
GENESIS = "0" * 64  # the hash before a chain's first entry

APPEND_ONLY = ("decisions", "change_events", "checkpoints", "designation_events")  # R2, D6

# fact_designation(facts) of models/audit_indexes.py, spelled as each database's planner must see it
FACT_DESIGNATION = {
    "postgresql": "(facts ->> 'designation')",
    "sqlite": "json_extract(facts, '$.designation')",
}


def required(name: str, type_: Any, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, *args, nullable=False, **kw)


def optional(name: str, type_: Any, *args: Any, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, *args, nullable=True, **kw)


def to(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in FACT_DESIGNATION:
        raise RuntimeError(f"clearance-gateway runs on SQLite or PostgreSQL, not {dialect}")
    _registry()
    _documents()
    _logs(dialect)
    _append_only(dialect)


def downgrade() -> None:
    raise RuntimeError(
        "0001 cannot be undone: it would drop the decision log and the change log (R1, R2, R4). "
        "Restore the backup taken before the upgrade instead."
    )


def _registry() -> None:
    op.create_table(
        "organs",
        required("id", ID, primary_key=True),
        required("name", sa.String(200)),
    )
    op.create_table(
        "operators",
        required("id", ID, primary_key=True),
        required("name", sa.String(200)),
        required("corporate_number", sa.String(13), unique=True),
    )
    op.create_table(  # C1
        "persons",
        required("id", ID, primary_key=True),
        required("name", sa.String(200)),
        required("kind", sa.String(16)),
        optional("organ_id", ID, to("organs")),
        optional("operator_id", ID, to("operators")),
        optional("department", sa.String(200)),
        optional("office", sa.String(64)),
    )
    op.create_table(  # C2, C7, C9
        "assessments",
        required("id", ID, primary_key=True),
        required("person_id", ID, to("persons")),
        required("organ_id", ID, to("organs")),
        required("scheme", sa.String(8)),
        required("result", sa.String(16)),
        required("notified_on", sa.Date()),
        required("status", sa.String(16)),
    )
    op.create_index("ix_assessments_person_id", "assessments", ["person_id"])
    op.create_table(  # B1, B3
        "certifications",
        required("id", ID, primary_key=True),
        required("operator_id", ID, to("operators")),
        required("organ_id", ID, to("organs")),
        required("certified_on", sa.Date()),
        required("status", sa.String(16)),
    )
    op.create_index("ix_certifications_operator_id", "certifications", ["operator_id"])
    op.create_table(  # D1, D2
        "designations",
        required("id", ID, primary_key=True),
        required("organ_id", ID, to("organs")),
        required("scheme", sa.String(8)),
        required("category", sa.String(200)),
        required("summary", sa.String(2000)),
        required("designated_on", sa.Date()),
        required("expires_on", sa.Date()),
        optional("cancelled_on", sa.Date()),
    )
    op.create_index("ix_designations_organ", "designations", ["organ_id"])
    op.create_table(  # D6: the ledger
        "designation_events",
        required("seq", sa.Integer(), primary_key=True),
        required("designation_id", ID, to("designations")),
        required("kind", sa.String(16)),
        required("on", sa.Date()),
        optional("expires_on", sa.Date()),
        optional("cabinet_approval_ref", sa.String(200)),
        required("at", TIME),
    )
    op.create_index("ix_designation_events_designation_id", "designation_events", ["designation_id"])
    op.create_table(  # B1, B2
        "contracts",
        required("id", ID, primary_key=True),
        required("operator_id", ID, to("operators")),
        required("organ_id", ID, to("organs")),
        required("starts_on", sa.Date()),
        required("ends_on", sa.Date()),
        required("departments", sa.JSON()),
    )
    op.create_index("ix_contracts_operator_id", "contracts", ["operator_id"])
    op.create_table(
        "contract_designations",
        required("contract_id", ID, to("contracts"), primary_key=True),
        required("designation_id", ID, to("designations"), primary_key=True),
    )
    op.create_table(  # N1
        "roster_entries",
        required("designation_id", ID, to("designations"), primary_key=True),
        required("person_id", ID, to("persons"), primary_key=True),
        required("valid_from", sa.Date()),
        optional("valid_until", sa.Date()),
    )
    op.create_index("ix_roster_entries_person_id", "roster_entries", ["person_id"])


def _documents() -> None:
    op.create_table(
        "documents",
        required("id", ID, primary_key=True),
        required("title", sa.String(500)),
        optional("designation_id", ID, to("designations")),
        required("media_type", sa.String(200)),
        required("size", sa.Integer()),
        required("sha256", HASH),
    )


def _logs(dialect: str) -> None:
    op.create_table(  # R1, R2
        "decisions",
        required("seq", SEQ, primary_key=True),
        required("decision_id", sa.String(32), unique=True),
        required("schema_version", sa.Integer()),
        required("logged_at", TIME),
        required("evaluated_at", TIME),
        required("caller_sub", sa.String(256)),
        optional("caller_client", sa.String(256)),
        optional("request_id", sa.String(200)),
        required("channel", sa.String(16)),
        required("person_id", sa.String(256)),
        required("document_id", sa.String(256)),
        required("action", sa.String(256)),
        required("allowed", sa.Boolean()),
        required("reasons", sa.JSON()),
        required("reason_codes", sa.String(400)),
        required("policy_version", sa.String(80)),
        required("facts", sa.JSON()),
        optional("inputs", sa.JSON()),
        required("simulation", sa.Boolean()),
        required("latency_us", sa.Integer()),
        required("chain_index", sa.BigInteger(), unique=True),
        required("prev_hash", HASH),
        required("hash", HASH),
    )
    # The auditors' filters, each with seq: the order of every audit answer (gateway/audit/query.py)
    op.create_index("ix_decisions_person", "decisions", ["person_id", "seq"])
    op.create_index("ix_decisions_document", "decisions", ["document_id", "seq"])
    op.create_index("ix_decisions_allowed", "decisions", ["allowed", "seq"])
    op.create_index("ix_decisions_caller", "decisions", ["caller_sub", "seq"])
    op.create_index("ix_decisions_designation", "decisions", [sa.text(FACT_DESIGNATION[dialect]), "seq"])
    op.create_index("ix_decisions_logged_at", "decisions", ["logged_at"])

    op.create_table(  # R4
        "change_events",
        required("seq", SEQ, primary_key=True),
        required("at", TIME),
        required("actor", sa.String(200)),
        optional("request_id", sa.String(200)),
        required("action", sa.String(64)),
        required("entity", sa.String(32)),
        required("entity_id", sa.String(200)),
        optional("before", sa.JSON()),
        optional("after", sa.JSON()),
        required("chain_index", sa.BigInteger(), unique=True),
        required("prev_hash", HASH),
        required("hash", HASH),
    )
    op.create_index("ix_change_events_at", "change_events", ["at"])

    heads = op.create_table(  # the last entry of each hash chain; its row lock orders the writers
        "chain_heads",
        required("chain", sa.String(16), primary_key=True),
        required("chain_index", sa.BigInteger()),
        required("hash", HASH),
    )
    op.bulk_insert(
        heads,
        [
            {"chain": "decisions", "chain_index": 0, "hash": GENESIS},
            {"chain": "changes", "chain_index": 0, "hash": GENESIS},
        ],
    )
    op.create_table(  # chain heads signed by the gateway's key
        "checkpoints",
        required("seq", SEQ, primary_key=True),
        required("chain", sa.String(16)),
        required("chain_index", sa.BigInteger()),
        required("hash", HASH),
        required("signed_at", TIME),
        required("key_id", sa.String(64)),
        required("signature", sa.String(200)),
    )


def _append_only(dialect: str) -> None:
    """R2, D6: the logs and the designation ledger refuse UPDATE and DELETE (and on PostgreSQL,
    TRUNCATE), whoever connects."""
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION cg_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION cg_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION cg_append_only()"
        )
