"""The registry: who may be given what (rules D, C, B and N of shared/domain.md).

Each concept is one `...Base` class with the fields administrators write, one table class, and
the import/API shapes in `models.bundle` derived from the same base.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

ID = 64  # longest id an administrator may choose


class OrganBase(SQLModel):
    id: str = Field(primary_key=True, max_length=ID)
    name: str = Field(max_length=200)


class Organ(OrganBase, table=True):
    __tablename__ = "organs"


class OperatorBase(SQLModel):
    id: str = Field(primary_key=True, max_length=ID)
    name: str = Field(max_length=200)
    corporate_number: str = Field(max_length=13, sa_column_kwargs={"unique": True})


class Operator(OperatorBase, table=True):
    __tablename__ = "operators"


class PersonBase(SQLModel):
    """C1: government staff of an organ, or an employee of a business operator. No assessment data."""

    id: str = Field(primary_key=True, max_length=ID)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # government | contractor
    organ_id: str | None = Field(default=None, foreign_key="organs.id", max_length=ID)
    operator_id: str | None = Field(default=None, foreign_key="operators.id", max_length=ID)
    department: str | None = Field(default=None, max_length=200)
    office: str | None = Field(default=None, max_length=64)  # C8: a statutory office, if any


class Person(PersonBase, table=True):
    __tablename__ = "persons"


class AssessmentBase(SQLModel):
    """C2, C9: only what a decision needs: never the assessed matters."""

    id: str = Field(primary_key=True, max_length=ID)
    person_id: str = Field(foreign_key="persons.id", max_length=ID, index=True)
    organ_id: str = Field(foreign_key="organs.id", max_length=ID)
    scheme: str = Field(max_length=8)  # esi | sds
    result: str = Field(max_length=16)  # favourable | unfavourable
    notified_on: date
    status: str = Field(default="active", max_length=16)  # active | suspended | revoked
    # An ESI record dated before the ESI Act took effect (2025-05-16), carried over on purpose.
    transitional: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class Assessment(AssessmentBase, table=True):
    __tablename__ = "assessments"


class CertificationBase(SQLModel):
    """B1: an operator certified by one organ."""

    id: str = Field(primary_key=True, max_length=ID)
    operator_id: str = Field(foreign_key="operators.id", max_length=ID, index=True)
    organ_id: str = Field(foreign_key="organs.id", max_length=ID)
    certified_on: date
    status: str = Field(default="active", max_length=16)


class Certification(CertificationBase, table=True):
    __tablename__ = "certifications"


class DesignationBase(SQLModel):
    """D1, D2: designated by one organ, which never changes."""

    id: str = Field(primary_key=True, max_length=ID)
    organ_id: str = Field(foreign_key="organs.id", max_length=ID)
    scheme: str = Field(max_length=8)
    category: str = Field(max_length=200)
    summary: str = Field(max_length=2000)
    designated_on: date
    expires_on: date
    cancelled_on: date | None = None
    transitional: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})  # as for assessments


class Designation(DesignationBase, table=True):
    __tablename__ = "designations"


class DesignationEvent(SQLModel, table=True):
    """D6: the ledger history of a designation (designated, extended, cancelled); never deleted."""

    __tablename__ = "designation_events"
    seq: int | None = Field(default=None, primary_key=True)
    designation_id: str = Field(foreign_key="designations.id", max_length=ID, index=True)
    kind: str = Field(max_length=16)  # designated | extended | cancelled
    on: date
    expires_on: date | None = None
    cabinet_approval_ref: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContractBase(SQLModel):
    """B1, B2: which designations an operator receives from an organ, and which departments."""

    id: str = Field(primary_key=True, max_length=ID)
    operator_id: str = Field(foreign_key="operators.id", max_length=ID, index=True)
    organ_id: str = Field(foreign_key="organs.id", max_length=ID)
    starts_on: date
    ends_on: date
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Contract(ContractBase, table=True):
    __tablename__ = "contracts"


class ContractDesignation(SQLModel, table=True):
    __tablename__ = "contract_designations"
    contract_id: str = Field(foreign_key="contracts.id", primary_key=True, max_length=ID)
    designation_id: str = Field(foreign_key="designations.id", primary_key=True, max_length=ID)


class RosterEntry(SQLModel, table=True):
    """N1: a person on the handler roster of a designation, from a day, until a day (inclusive).

    One row per period: a removal ends the entry (sets `valid_until`) and a later addition starts a
    new period, so the roster as it stood on any day stays readable.
    """

    __tablename__ = "roster_entries"
    designation_id: str = Field(foreign_key="designations.id", primary_key=True, max_length=ID)
    person_id: str = Field(foreign_key="persons.id", primary_key=True, max_length=ID, index=True)
    valid_from: date = Field(primary_key=True)
    valid_until: date | None = None


class Provision(SQLModel, table=True):
    """C5a: a designation's information provided by its organ to another organ, from a day, until a
    day (inclusive). While a provision is in force the receiving organ's cleared staff on the roster
    may handle it as their own organ's.

    One row per period, as for rosters: ending a provision sets `valid_until`; a later provision to
    the same organ starts a new period, so the provisions of any earlier day stay readable.
    """

    __tablename__ = "provisions"
    designation_id: str = Field(foreign_key="designations.id", primary_key=True, max_length=ID)
    organ_id: str = Field(foreign_key="organs.id", primary_key=True, max_length=ID, index=True)
    valid_from: date = Field(primary_key=True)
    valid_until: date | None = None


class StatusPeriod(SQLModel, table=True):
    """C7, B3: an assessment's or certification's status from the instant it was recorded on.

    The first period of a record holds from the record's own date (`notified_on`, `certified_on`);
    each later one from `recorded_at`, so a suspension made today never changes a decision about
    last month. Rows are only ever added.
    """

    __tablename__ = "status_periods"
    seq: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=16)  # assessment | certification
    entity_id: str = Field(max_length=ID)
    status: str = Field(max_length=16)
    starts_on: date  # the day the period starts, in the configured zone
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class RecordVersion(SQLModel, table=True):
    """A designation, contract or roster entry as it was until a change replaced it at `superseded_at`.

    An instant before that is decided on this version. For a roster entry (entity_id `G/P`), `record`
    holds every period of the pair as it was. Rows are only ever added.
    """

    __tablename__ = "record_versions"
    seq: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=16)  # designation | contract | roster_entry
    entity_id: str = Field(max_length=200)
    record: Any = Field(sa_column=Column(JSON, nullable=False))
    superseded_at: datetime = Field(sa_type=UTCDateTime)


class Document(SQLModel, table=True):
    """Metadata of a protected document; the content lives encrypted in the document store."""

    __tablename__ = "documents"
    id: str = Field(primary_key=True, max_length=ID)
    title: str = Field(max_length=500)
    designation_id: str | None = Field(default=None, foreign_key="designations.id", max_length=ID)
    media_type: str = Field(default="application/octet-stream", max_length=200)
    size: int = 0
    sha256: str = Field(default="", sa_column=Column(String(64), nullable=False))


Index("ix_designations_organ", Designation.__table__.c.organ_id)  # type: ignore[attr-defined]
Index("ix_status_periods_entity", StatusPeriod.__table__.c.entity, StatusPeriod.__table__.c.entity_id)  # type: ignore[attr-defined]
Index("ix_record_versions_entity", RecordVersion.__table__.c.entity, RecordVersion.__table__.c.entity_id)  # type: ignore[attr-defined]
