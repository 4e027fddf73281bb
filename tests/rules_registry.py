"""A registry built to put every rule of domain.md at its edges (see test_rules.py for the cases)."""

from __future__ import annotations

import base64
from typing import Any

ESI_SPAN = ("2025-06-01", "2030-05-31")


def _designation(id_: str, organ: str, scheme: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "organ_id": organ,
        "scheme": scheme,
        "category": "infrastructure/vulnerabilities" if scheme == "esi" else "defence",
        "summary": f"{id_} summary",
        "designated_on": start,
        "expires_on": end,
        **extra,
    }


def _gov(id_: str, organ: str = "METI", **extra: Any) -> dict[str, Any]:
    return {"id": id_, "name": f"Name of {id_}", "kind": "government", "organ_id": organ, **extra}


def _con(id_: str, operator: str, department: str = "R&D") -> dict[str, Any]:
    return {
        "id": id_,
        "name": f"Name of {id_}",
        "kind": "contractor",
        "operator_id": operator,
        "department": department,
    }


def _assess(
    id_: str,
    person: str,
    scheme: str = "esi",
    notified: str = "2025-06-01",
    organ: str = "METI",
    result: str = "favourable",
    status: str = "active",
) -> dict[str, Any]:
    return {
        "id": id_,
        "person_id": person,
        "organ_id": organ,
        "scheme": scheme,
        "result": result,
        "notified_on": notified,
        "status": status,
    }


def _roster(designation: str, person: str, start: str = "2025-06-01", until: str | None = None) -> dict[str, Any]:
    return {"designation_id": designation, "person_id": person, "from": start, "until": until}


def rules_bundle() -> dict[str, Any]:
    designations = [
        _designation("G-ESI", "METI", "esi", *ESI_SPAN),
        _designation("G-SDS", "METI", "sds", *ESI_SPAN),
        _designation("G-CAN", "METI", "esi", *ESI_SPAN, cancelled_on="2026-04-01"),
        _designation("G-FUT", "METI", "esi", "2027-01-01", "2031-12-31"),
        _designation("G-LONG", "METI", "esi", "2033-01-01", "2037-12-31"),
        _designation("G-LEAP", "METI", "esi", "2035-01-01", "2039-12-31"),
        _designation("G-SDS30", "METI", "sds", "2026-01-01", "2030-12-31"),
        _designation("G-MOD", "MOD", "sds", *ESI_SPAN),
    ]
    documents = [
        {
            "id": f"D-{d['id'][2:]}",
            "title": f"Document under {d['id']}",
            "designation_id": d["id"],
            "media_type": "text/plain",
            "content_base64": base64.b64encode(d["id"].encode()).decode(),
        }
        for d in designations
    ] + [{"id": "D-PUB", "title": "Public", "designation_id": None, "content_base64": ""}]
    persons = [
        _gov("P-OK"),
        _gov("P-LEAP"),
        _gov("P-SDS"),
        _gov("P-SUPER"),
        _gov("P-SUSP"),
        _gov("P-REV"),
        _gov("P-REV-NEW"),
        _gov("P-MOD", "MOD"),
        _gov("P-METI-BY-MOD"),
        _gov("P-EXEMPT", office="minister_of_state"),
        _gov("P-NOROSTER"),
        _gov("P-WINDOW"),
        _gov("P-NONE"),
        _gov("P-MULTI"),
        _gov("P-UNFAV"),
        _con("C-OK", "ACME"),
        _con("C-SALES", "ACME", "Sales"),
        _con("C-BETA", "BETA"),
        _con("C-GAMMA", "GAMMA"),
        _con("C-DELTA", "DELTA"),
        _con("C-EPS", "EPS"),
        _con("C-SDS", "ACME"),
        _con("C-MODCLR", "ACME"),
        _con("C-ZETA", "ZETA"),
    ]
    assessments = [
        _assess("A-OK", "P-OK"),
        _assess("A-LEAP", "P-LEAP", notified="2028-02-29"),
        _assess("A-SDS", "P-SDS", scheme="sds"),
        _assess("A-SUPER-1", "P-SUPER"),
        _assess("A-SUPER-2", "P-SUPER", notified="2026-03-01", result="unfavourable"),
        _assess("A-SUSP", "P-SUSP", status="suspended"),
        _assess("A-REV", "P-REV", status="revoked"),
        _assess("A-REV-OLD", "P-REV-NEW", status="revoked"),
        _assess("A-REV-NEW", "P-REV-NEW", notified="2026-01-10"),
        _assess("A-MOD", "P-MOD", scheme="sds", organ="MOD"),
        _assess("A-METI-BY-MOD", "P-METI-BY-MOD", scheme="sds", organ="MOD"),
        _assess("A-NOROSTER", "P-NOROSTER"),
        _assess("A-WINDOW", "P-WINDOW"),
        _assess("A-UNFAV", "P-UNFAV", result="unfavourable"),
        *(_assess(f"A-{c}", c) for c in ("C-OK", "C-SALES", "C-BETA", "C-GAMMA", "C-DELTA", "C-EPS", "C-SDS")),
        _assess("A-C-MODCLR", "C-MODCLR", scheme="sds", organ="MOD"),
        _assess("A-C-ZETA", "C-ZETA", scheme="sds", organ="MOD"),
    ]
    operators = [
        {"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"},
        {"id": "BETA", "name": "Beta", "corporate_number": "6010401006770"},
        {"id": "GAMMA", "name": "Gamma", "corporate_number": "1180001021290"},
        {"id": "DELTA", "name": "Delta", "corporate_number": "8700110005901"},
        {"id": "EPS", "name": "Epsilon", "corporate_number": "5000012010024"},
        {"id": "ZETA", "name": "Zeta", "corporate_number": "2000012010019"},
    ]
    certifications = [
        {
            "id": "CERT-ACME",
            "operator_id": "ACME",
            "organ_id": "METI",
            "certified_on": "2025-07-01",
            "status": "active",
        },
        {
            "id": "CERT-GAMMA",
            "operator_id": "GAMMA",
            "organ_id": "METI",
            "certified_on": "2025-07-01",
            "status": "suspended",
        },
        {
            "id": "CERT-DELTA",
            "operator_id": "DELTA",
            "organ_id": "METI",
            "certified_on": "2025-07-01",
            "status": "revoked",
        },
        {"id": "CERT-EPS", "operator_id": "EPS", "organ_id": "METI", "certified_on": "2025-07-01", "status": "active"},
        {"id": "CERT-ZETA", "operator_id": "ZETA", "organ_id": "MOD", "certified_on": "2025-07-01", "status": "active"},
    ]

    def contract(
        id_: str, operator: str, end: str = "2027-06-30", designations: list[str] | None = None, organ: str = "METI"
    ) -> dict[str, Any]:
        return {
            "id": id_,
            "operator_id": operator,
            "organ_id": organ,
            "starts_on": "2025-07-01",
            "ends_on": end,
            "designation_ids": designations or ["G-ESI"],
            "departments": ["R&D"],
        }

    contracts = [
        contract("K-ACME", "ACME", designations=["G-ESI", "G-SDS"]),
        contract("K-GAMMA", "GAMMA"),
        contract("K-DELTA", "DELTA"),
        contract("K-EPS", "EPS", end="2026-03-31"),
        contract("K-ZETA", "ZETA", designations=["G-MOD"], organ="MOD"),
    ]
    rosters = [
        *(_roster(g, "P-OK") for g in ("G-ESI", "G-SDS", "G-CAN", "G-FUT", "G-LONG")),
        _roster("G-LEAP", "P-LEAP"),
        *(_roster(g, "P-SDS") for g in ("G-ESI", "G-SDS", "G-SDS30")),
        *(
            _roster("G-ESI", p)
            for p in (
                "P-SUPER",
                "P-SUSP",
                "P-REV",
                "P-REV-NEW",
                "P-MOD",
                "P-METI-BY-MOD",
                "P-EXEMPT",
                "P-NONE",
                "P-UNFAV",
            )
        ),
        _roster("G-MOD", "P-MOD"),
        _roster("G-CAN", "P-EXEMPT"),
        _roster("G-ESI", "P-WINDOW", "2026-01-01", "2026-12-31"),
        *(_roster("G-ESI", c) for c in ("C-OK", "C-SALES", "C-BETA", "C-GAMMA", "C-DELTA", "C-EPS", "C-MODCLR")),
        _roster("G-FUT", "C-OK"),
        _roster("G-SDS", "C-SDS"),
        _roster("G-MOD", "C-ZETA"),
    ]
    return {
        "organs": [
            {"id": "METI", "name": "Ministry of Economy, Trade and Industry"},
            {"id": "MOD", "name": "Ministry of Defense"},
        ],
        "operators": operators,
        "persons": persons,
        "assessments": assessments,
        "certifications": certifications,
        "designations": designations,
        "contracts": contracts,
        "rosters": rosters,
        "documents": documents,
    }
