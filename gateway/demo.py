"""A demo registry that shows an allow and every kind of deny, dated relative to today (JST)."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

from gateway.registry.validation import before_act_problem

# (person, document, what the demo shows) — printed by `serve --demo` with a curl line each.
DEMO_CASES: list[tuple[str, str, str]] = [
    ("P-0001", "DOC-0001", "allow: METI staff, ESI clearance, on the roster"),
    ("P-0002", "DOC-0001", "allow: contractor, certified employer, contract covers R&D"),
    ("P-0003", "DOC-0001", "allow: Minister of State, exempt from assessment (C8)"),
    ("P-0012", "DOC-0001", "allow: SDS clearance opens ESI (C6 bridge)"),
    ("P-0001", "DOC-0004", "allow: unclassified document"),
    ("P-9999", "DOC-0001", "deny: subject_unknown"),
    ("P-0001", "DOC-9999", "deny: document_unknown"),
    ("P-0001", "DOC-0002", "deny: designation_not_in_force (expired)"),
    ("P-0001", "DOC-0005", "deny: designation_not_in_force (cancelled)"),
    ("P-0004", "DOC-0001", "deny: clearance_expired"),
    ("P-0005", "DOC-0001", "deny: clearance_suspended"),
    ("P-0006", "DOC-0001", "deny: clearance_revoked"),
    ("P-0007", "DOC-0003", "deny: clearance_insufficient (ESI only, SDS document)"),
    ("P-0008", "DOC-0001", "deny: clearance_missing (MOD staff, METI information: C5)"),
    ("P-0009", "DOC-0001", "deny: employer_not_certified + contract_not_in_force"),
    ("P-0010", "DOC-0001", "deny: contract_not_in_force (department not covered)"),
    ("P-0011", "DOC-0001", "deny: not_on_roster"),
]


def _content(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


def demo_bundle(today: date) -> dict[str, Any]:
    d = lambda days: (today + timedelta(days=days)).isoformat()  # noqa: E731
    recent, long_ago = d(-200), d(-(365 * 10 + 30))
    persons = [
        ("P-0001", "Sato Hanako", "government", "METI", None, None, None),
        ("P-0002", "Suzuki Taro", "contractor", None, "ACME", "R&D", None),
        ("P-0003", "Tanaka Ken", "government", "METI", None, None, "minister_of_state"),
        ("P-0004", "Takahashi Yui", "government", "METI", None, None, None),
        ("P-0005", "Ito Sho", "government", "METI", None, None, None),
        ("P-0006", "Watanabe Mei", "government", "METI", None, None, None),
        ("P-0007", "Yamamoto Ren", "government", "METI", None, None, None),
        ("P-0008", "Nakamura Aoi", "government", "MOD", None, None, None),
        ("P-0009", "Kobayashi Riku", "contractor", None, "BETA", "Design", None),
        ("P-0010", "Kato Yuna", "contractor", None, "ACME", "Sales", None),
        ("P-0011", "Yoshida Haruto", "government", "METI", None, None, None),
        ("P-0012", "Yamada Sora", "government", "METI", None, None, None),
    ]
    assessments = [
        ("A-0001", "P-0001", "METI", "esi", "favourable", recent, "active"),
        ("A-0002", "P-0002", "METI", "esi", "favourable", recent, "active"),
        ("A-0004", "P-0004", "METI", "esi", "favourable", long_ago, "active"),
        ("A-0005", "P-0005", "METI", "esi", "favourable", recent, "suspended"),
        ("A-0006", "P-0006", "METI", "esi", "favourable", recent, "revoked"),
        ("A-0007", "P-0007", "METI", "esi", "favourable", recent, "active"),
        ("A-0008", "P-0008", "MOD", "sds", "favourable", recent, "active"),
        ("A-0009", "P-0009", "METI", "esi", "favourable", recent, "active"),
        ("A-0010", "P-0010", "METI", "esi", "favourable", recent, "active"),
        ("A-0011", "P-0011", "METI", "esi", "favourable", recent, "active"),
        ("A-0012", "P-0012", "METI", "sds", "favourable", recent, "active"),
    ]
    everyone = [p[0] for p in persons if p[0] != "P-0011"]
    bundle: dict[str, Any] = {
        "organs": [
            {"id": "METI", "name": "Ministry of Economy, Trade and Industry"},
            {"id": "MOD", "name": "Ministry of Defense"},
        ],
        "operators": [
            {"id": "ACME", "name": "Acme Semiconductors K.K.", "corporate_number": "7000012050002"},
            {"id": "BETA", "name": "Beta Batteries K.K.", "corporate_number": "6010401006770"},
        ],
        "persons": [
            {"id": i, "name": n, "kind": k, "organ_id": o, "operator_id": op, "department": dep, "office": off}
            for i, n, k, o, op, dep, off in persons
        ],
        "assessments": [
            {"id": i, "person_id": p, "organ_id": o, "scheme": s, "result": r, "notified_on": n, "status": st}
            for i, p, o, s, r, n, st in assessments
        ],
        "certifications": [
            {"id": "C-0001", "operator_id": "ACME", "organ_id": "METI", "certified_on": d(-300), "status": "active"}
        ],
        "designations": [
            {
                "id": "G-0001",
                "organ_id": "METI",
                "scheme": "esi",
                "category": "supply-chain/semiconductors",
                "summary": "Advanced lithography supply-chain vulnerabilities",
                "designated_on": d(-365),
                "expires_on": d(365 * 3),
            },
            {
                "id": "G-0002",
                "organ_id": "METI",
                "scheme": "esi",
                "category": "infrastructure/power",
                "summary": "Grid control system weaknesses (designation lapsed)",
                "designated_on": d(-365 * 5),
                "expires_on": d(-30),
            },
            {
                "id": "G-0003",
                "organ_id": "METI",
                "scheme": "sds",
                "category": "defence",
                "summary": "Defence procurement specifications held by METI",
                "designated_on": d(-100),
                "expires_on": d(365 * 2),
            },
            {
                "id": "G-0004",
                "organ_id": "METI",
                "scheme": "esi",
                "category": "supply-chain/batteries",
                "summary": "Battery cathode sourcing (cancelled)",
                "designated_on": d(-400),
                "expires_on": d(365),
                "cancelled_on": d(-10),
            },
        ],
        "contracts": [
            {
                "id": "K-0001",
                "operator_id": "ACME",
                "organ_id": "METI",
                "starts_on": d(-300),
                "ends_on": d(700),
                "designation_ids": ["G-0001"],
                "departments": ["R&D"],
            }
        ],
        "rosters": [
            *({"designation_id": "G-0001", "person_id": p, "from": d(-300), "until": None} for p in everyone),
            *(
                {"designation_id": g, "person_id": "P-0001", "from": d(-300), "until": None}
                for g in ("G-0002", "G-0004")
            ),
            {"designation_id": "G-0003", "person_id": "P-0007", "from": d(-90), "until": None},
        ],
        "documents": [
            {
                "id": "DOC-0001",
                "title": "Lithography supplier assessment",
                "designation_id": "G-0001",
                "media_type": "text/plain",
                "content_base64": _content("重要経済安保情報: lithography supplier assessment\n"),
            },
            {
                "id": "DOC-0002",
                "title": "Grid control review",
                "designation_id": "G-0002",
                "media_type": "text/plain",
                "content_base64": _content("grid control review\n"),
            },
            {
                "id": "DOC-0003",
                "title": "Most sensitive review",
                "designation_id": "G-0003",
                "media_type": "text/plain",
                "content_base64": _content("特定秘密: review\n"),
            },
            {
                "id": "DOC-0004",
                "title": "Public briefing",
                "designation_id": None,
                "media_type": "text/plain",
                "content_base64": _content("public briefing\n"),
            },
            {
                "id": "DOC-0005",
                "title": "Cathode sourcing",
                "designation_id": "G-0004",
                "media_type": "text/plain",
                "content_base64": _content("cathode sourcing\n"),
            },
        ],
    }
    # An expired ESI clearance, or a lapsed ESI designation, is older than the ESI Act (2025-05-16) and
    # can only be a record carried over: the demo marks such records so.
    for section, day in (("assessments", "notified_on"), ("designations", "designated_on")):
        for entry in bundle[section]:
            if before_act_problem(entry["scheme"], date.fromisoformat(entry[day]), False, section):
                entry["transitional"] = True
    return bundle
