"""R3: the figures the government reports to the Diet each year, per organ, from the registry.

Days are the registry's own (Japan calendar days, C3). For calendar year Y, with `last` = Y-12-31:

- designations made: designated_on in Y
- in force at year-end: designated_on <= last <= expires_on, and not cancelled on or before `last` (D3)
- cancelled: cancelled_on in Y, on or before expires_on (a cancellation dated after the expiry cancels nothing)
- expired: expires_on in Y and not cancelled on or before expires_on (so a designation ends once: cancelled or expired)
- assessments carried out (notified_on in Y), favourable and unfavourable, per assessing organ (C2)
- designations made and in force at year-end, per category (D4)
- certifications of operators: certified_on in Y, per certifying organ (B1)

Each Act (scheme) has its own report: ESI and SDS figures are counted apart and never added together
(R3). A certification names no Act, so certifications are reported once, beside both. C9: counts only,
never who.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from models import Assessment, Certification, Designation, Organ
from models.vocabulary import Result

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
        "favourable": and_(in_year, a.result == Result.FAVOURABLE),
        "unfavourable": and_(in_year, a.result == Result.UNFAVOURABLE),
    }


ACTS = {  # R3: each Act has its own report; its figures are never added to the other's
    "esi": "Act on the Protection and Utilization of Critical Economic Security Information (2024)",
    "sds": "Act on the Protection of Specially Designated Secrets (2013)",
}


def _per_organ(
    conn: Connection, organ: Any, counts: dict[str, ColumnElement[bool]], *where: ColumnElement[bool]
) -> dict[str, dict[str, int]]:
    columns = [func.count().filter(condition).label(name) for name, condition in counts.items()]
    rows = conn.execute(select(organ, *columns).where(*where).group_by(organ))
    return {row[0]: {name: int(row._mapping[name]) for name in counts} for row in rows}


def annual_report(conn: Connection, year: int, schemes: tuple[str, ...] = tuple(ACTS)) -> dict[str, Any]:
    """R3 for a calendar year, each Act apart:

    `{"year", "acts": {scheme: {"scheme", "act", "organs": [{organ_id, name, designations, assessments}],
    "totals", "categories": [{category, made, in_force_at_year_end}]}}, "certifications": {"organs":
    [{organ_id, name, certified}], "total"}}`. A certification of an operator (B1) names no Act, so it
    is reported once, beside the Acts, never inside either's figures.
    """
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")
    unknown = [s for s in schemes if s not in ACTS]
    if unknown:
        raise ValueError(f"unknown scheme {unknown[0]!r}; expected esi or sds")
    organs = list(conn.execute(select(ORGANS.c.id, ORGANS.c.name).order_by(ORGANS.c.id)))
    acts = {scheme: _act(conn, year, scheme, organs) for scheme in schemes}
    in_year = CERTIFICATIONS.c.certified_on.between(date(year, 1, 1), date(year, 12, 31))
    certified = _per_organ(conn, CERTIFICATIONS.c.organ_id, {"certified": in_year})
    per_organ = [
        {"organ_id": organ_id, "name": name, "certified": certified.get(organ_id, {"certified": 0})["certified"]}
        for organ_id, name in organs
    ]
    return {
        "year": year,
        "acts": acts,
        "certifications": {"organs": per_organ, "total": sum(o["certified"] for o in per_organ)},
    }


def _act(conn: Connection, year: int, scheme: str, organs: list[Any]) -> dict[str, Any]:
    counts = _designation_counts(year)
    designations = _per_organ(conn, DESIGNATIONS.c.organ_id, counts, DESIGNATIONS.c.scheme == scheme)
    assessments = _per_organ(conn, ASSESSMENTS.c.organ_id, _assessment_counts(year), ASSESSMENTS.c.scheme == scheme)
    rows = [
        {
            "organ_id": organ_id,
            "name": name,
            "designations": designations.get(organ_id, dict.fromkeys(DESIGNATION_FIGURES, 0)),
            "assessments": assessments.get(organ_id, dict.fromkeys(ASSESSMENT_FIGURES, 0)),
        }
        for organ_id, name in organs
    ]
    by_category = _per_organ(
        conn,
        DESIGNATIONS.c.category,
        {k: counts[k] for k in ("made", "in_force_at_year_end")},
        DESIGNATIONS.c.scheme == scheme,
    )
    categories = [
        {"category": category, **figures} for category, figures in sorted(by_category.items()) if any(figures.values())
    ]
    return {
        "scheme": scheme,
        "act": ACTS[scheme],
        "organs": rows,
        "totals": totals(rows),
        "categories": categories,
    }


def totals(organs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "designations": {k: sum(o["designations"][k] for o in organs) for k in DESIGNATION_FIGURES},
        "assessments": {k: sum(o["assessments"][k] for o in organs) for k in ASSESSMENT_FIGURES},
    }


def flat_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per Act and organ, one for each Act's totals, and the certifications per organ
    with their total under no scheme (empty: no Act) (CSV, tables)."""

    def flat(
        scheme: str, organ_id: str, name: str, figures: dict[str, Any] | None, certified: int | str
    ) -> dict[str, Any]:
        return {
            "scheme": scheme,
            "organ_id": organ_id,
            "name": name,
            **{f"designations_{k}": figures["designations"][k] if figures else "" for k in DESIGNATION_FIGURES},
            **{f"assessments_{k}": figures["assessments"][k] if figures else "" for k in ASSESSMENT_FIGURES},
            "certifications": certified,
        }

    rows = []
    for scheme, act in report["acts"].items():
        rows += [flat(scheme, o["organ_id"], o["name"], o, "") for o in act["organs"]]
        rows.append(flat(scheme, "", "Total", act["totals"], ""))
    certifications = report["certifications"]
    rows += [flat("", o["organ_id"], o["name"], None, o["certified"]) for o in certifications["organs"]]
    rows.append(flat("", "", "Total", None, certifications["total"]))
    return rows
