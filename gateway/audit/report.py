"""R3: the figures the government reports to the Diet each year, per organ, from the registry.

Days are the registry's own (Japan calendar days, C3). For calendar year Y, with `last` = Y-12-31:

- designations made: designated_on in Y
- in force at year-end: designated_on <= last <= expires_on, and not cancelled on or before `last` (D3)
- cancelled: cancelled_on in Y, on or before expires_on (a cancellation dated after the expiry cancels nothing)
- expired: expires_on in Y and not cancelled on or before expires_on (so a designation ends once: cancelled or expired)
- assessments carried out (notified_on in Y), favourable and unfavourable, per assessing organ (C2)
- certifications of operators: certified_on in Y, per certifying organ (B1)

C9: counts only, never who.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from models import Assessment, Certification, Designation, Organ

ORGANS = Organ.__table__  # type: ignore[attr-defined]
DESIGNATIONS = Designation.__table__  # type: ignore[attr-defined]
ASSESSMENTS = Assessment.__table__  # type: ignore[attr-defined]
CERTIFICATIONS = Certification.__table__  # type: ignore[attr-defined]
MIN_YEAR, MAX_YEAR = 1, 9999

DESIGNATION_FIGURES = ("made", "in_force_at_year_end", "cancelled", "expired")
ASSESSMENT_FIGURES = ("carried_out", "favourable", "unfavourable")


def _designation_counts(year: int) -> dict[str, ColumnElement[bool]]:
    first, last = date(year, 1, 1), date(year, 12, 31)
    d = DESIGNATIONS.c
    ends_by_cancellation = and_(d.cancelled_on.is_not(None), d.cancelled_on <= d.expires_on)
    return {
        "made": d.designated_on.between(first, last),
        "in_force_at_year_end": and_(
            d.designated_on <= last,
            d.expires_on >= last,
            or_(d.cancelled_on.is_(None), d.cancelled_on > last),
        ),
        "cancelled": and_(d.cancelled_on.between(first, last), ends_by_cancellation),
        "expired": and_(d.expires_on.between(first, last), ~ends_by_cancellation),
    }


def _assessment_counts(year: int) -> dict[str, ColumnElement[bool]]:
    a = ASSESSMENTS.c
    in_year = a.notified_on.between(date(year, 1, 1), date(year, 12, 31))
    return {
        "carried_out": in_year,
        "favourable": and_(in_year, a.result == "favourable"),
        "unfavourable": and_(in_year, a.result == "unfavourable"),
    }


def _per_organ(conn: Connection, organ: Any, counts: dict[str, ColumnElement[bool]]) -> dict[str, dict[str, int]]:
    columns = [func.count().filter(condition).label(name) for name, condition in counts.items()]
    rows = conn.execute(select(organ, *columns).group_by(organ))
    return {row[0]: {name: int(row._mapping[name]) for name in counts} for row in rows}


def annual_report(conn: Connection, year: int) -> dict[str, Any]:
    """`{"year", "organs": [{organ_id, name, designations, assessments, certifications}], "totals"}`."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")
    designations = _per_organ(conn, DESIGNATIONS.c.organ_id, _designation_counts(year))
    assessments = _per_organ(conn, ASSESSMENTS.c.organ_id, _assessment_counts(year))
    in_year = CERTIFICATIONS.c.certified_on.between(date(year, 1, 1), date(year, 12, 31))
    certifications = _per_organ(conn, CERTIFICATIONS.c.organ_id, {"certified": in_year})
    organs = []
    for organ_id, name in conn.execute(select(ORGANS.c.id, ORGANS.c.name).order_by(ORGANS.c.id)):
        organs.append(
            {
                "organ_id": organ_id,
                "name": name,
                "designations": designations.get(organ_id, dict.fromkeys(DESIGNATION_FIGURES, 0)),
                "assessments": assessments.get(organ_id, dict.fromkeys(ASSESSMENT_FIGURES, 0)),
                "certifications": certifications.get(organ_id, {"certified": 0})["certified"],
            }
        )
    return {"year": year, "organs": organs, "totals": totals(organs)}


def totals(organs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "designations": {k: sum(o["designations"][k] for o in organs) for k in DESIGNATION_FIGURES},
        "assessments": {k: sum(o["assessments"][k] for o in organs) for k in ASSESSMENT_FIGURES},
        "certifications": sum(o["certifications"] for o in organs),
    }


def flat_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per organ and one for the totals (CSV, tables)."""

    def flat(organ_id: str, name: str, figures: dict[str, Any]) -> dict[str, Any]:
        return {
            "organ_id": organ_id,
            "name": name,
            **{f"designations_{k}": figures["designations"][k] for k in DESIGNATION_FIGURES},
            **{f"assessments_{k}": figures["assessments"][k] for k in ASSESSMENT_FIGURES},
            "certifications": figures["certifications"],
        }

    rows = [flat(o["organ_id"], o["name"], o) for o in report["organs"]]
    return [*rows, flat("", "Total", report["totals"])]
