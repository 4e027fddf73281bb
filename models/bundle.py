"""The registry bundle of api.md, as validated input shapes derived from the table bases."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field, field_validator
from sqlmodel import SQLModel

from models.identifiers import check_id
from models.media_types import check_media_type
from models.registry import (
    AssessmentBase,
    CertificationBase,
    ContractBase,
    DesignationBase,
    OperatorBase,
    OrganBase,
    PersonBase,
)

IdStr = str
_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


class _Entry(SQLModel):
    model_config = _STRICT  # type: ignore[assignment]

    @field_validator("id", check_fields=False)
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return check_id(value)


class OrganIn(OrganBase, _Entry):
    pass


class OperatorIn(OperatorBase, _Entry):
    corporate_number: str = Field(pattern=r"^[0-9]{13}$")


class PersonIn(PersonBase, _Entry):
    kind: Literal["government", "contractor"]


class AssessmentIn(AssessmentBase, _Entry):
    scheme: Literal["esi", "sds"]
    result: Literal["favourable", "unfavourable"]
    status: Literal["active", "suspended", "revoked"] = "active"


class CertificationIn(CertificationBase, _Entry):
    status: Literal["active", "suspended", "revoked"] = "active"


class DesignationIn(DesignationBase, _Entry):
    scheme: Literal["esi", "sds"]
    cabinet_approval_ref: str | None = None


class ContractIn(ContractBase, _Entry):
    designation_ids: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)


class RosterIn(SQLModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)  # type: ignore[assignment]
    designation_id: str
    person_id: str
    valid_from: date = Field(alias="from")
    valid_until: date | None = Field(default=None, alias="until")


class ProvisionIn(SQLModel):
    """C5a: a designation provided by its organ to another organ, from a day, until a day."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)  # type: ignore[assignment]
    designation_id: str
    organ_id: str
    valid_from: date = Field(alias="from")
    valid_until: date | None = Field(default=None, alias="until")


class DocumentIn(SQLModel):
    model_config = _STRICT  # type: ignore[assignment]
    id: str
    title: str = Field(max_length=500)
    designation_id: str | None = None
    media_type: str = Field(default="application/octet-stream", max_length=200)
    content_base64: str | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return check_id(value)

    @field_validator("media_type")
    @classmethod
    def _media_type_shape(cls, value: str) -> str:
        return check_media_type(value)


class Bundle(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    organs: list[OrganIn] = Field(default_factory=list)
    operators: list[OperatorIn] = Field(default_factory=list)
    persons: list[PersonIn] = Field(default_factory=list)
    assessments: list[AssessmentIn] = Field(default_factory=list)
    certifications: list[CertificationIn] = Field(default_factory=list)
    designations: list[DesignationIn] = Field(default_factory=list)
    contracts: list[ContractIn] = Field(default_factory=list)
    rosters: list[RosterIn] = Field(default_factory=list)
    provisions: list[ProvisionIn] = Field(default_factory=list)
    documents: list[DocumentIn] = Field(default_factory=list)
