"""The registry's tables by the bundle's section names, in the order an import writes them (references
first), and how each section's records are keyed."""

from __future__ import annotations

from typing import Any

from models import (
    Assessment,
    Certification,
    Contract,
    Designation,
    Document,
    Operator,
    Organ,
    Person,
    Provision,
    RosterEntry,
)

T = {
    name: model.__table__  # type: ignore[attr-defined]  # SQLModel's table classes carry it at runtime
    for name, model in {
        "organs": Organ,
        "operators": Operator,
        "persons": Person,
        "assessments": Assessment,
        "certifications": Certification,
        "designations": Designation,
        "contracts": Contract,
        "rosters": RosterEntry,
        "provisions": Provision,
        "documents": Document,
    }.items()
}
ENTITY = {
    "organs": "organ",
    "operators": "operator",
    "persons": "person",
    "assessments": "assessment",
    "certifications": "certification",
    "designations": "designation",
    "contracts": "contract",
    "rosters": "roster_entry",
    "provisions": "provision",
    "documents": "document",
}
ORDER = (
    "organs",
    "operators",
    "persons",
    "designations",
    "assessments",
    "certifications",
    "contracts",
    "rosters",
    "provisions",
    "documents",
)
# Sections whose entries are periods, keyed by (designation, holder, start) rather than an id.
PERIOD_KEYS = {
    "rosters": ("designation_id", "person_id", "valid_from"),  # N1
    "provisions": ("designation_id", "organ_id", "valid_from"),  # C5a
}


def period_key(name: str, row: Any) -> tuple[Any, ...]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return tuple(get(k) for k in PERIOD_KEYS[name])


def entity_id_of(name: str, row: dict[str, Any]) -> str:
    """The change log's id of an entry: its id, or "designation/holder" for a period."""
    return "/".join(period_key(name, row)[:2]) if name in PERIOD_KEYS else row["id"]
