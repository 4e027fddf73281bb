"""The auditors' scenario: a registry and a day of decisions made by several callers, which the audit
API tests read (the `audited` fixture, tests/audit/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from models import DecisionRecord
from tests.support import Gateway, carried_over

AUDIT = "audit:read"
NOTIFIED = "2019-11-17"  # every assessment's notified_on: a day no decision, time or id of these tests contains
NOTIFIED_MOD = "2023-02-14"
ORGAN_OF = {"G-E": "METI", "G-M": "MOD"}
T0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
ITEM_KEYS = {
    "decision_id",
    "logged_at",
    "evaluated_at",
    "caller",
    "request_id",
    "channel",
    "person",
    "document",
    "action",
    "decision",
    "reasons",
    "policy_version",
    "facts",
    "simulation",
    "latency_us",
}


# --- registries ----------------------------------------------------------------------------------


def person_record(id_: str, organ: str | None = "METI", operator: str | None = None) -> dict[str, Any]:
    if operator:
        return {"id": id_, "name": f"Name {id_}", "kind": "contractor", "operator_id": operator, "department": "R&D"}
    return {"id": id_, "name": f"Name {id_}", "kind": "government", "organ_id": organ}


def assessment_record(id_: str, person: str, organ: str, scheme: str, notified: str, result: str = "favourable") -> Any:
    return {
        "id": id_,
        "person_id": person,
        "organ_id": organ,
        "scheme": scheme,
        "result": result,
        "notified_on": notified,
        "status": "active",
    }


def designation_record(id_: str, organ: str, start: str, end: str, cancelled: str | None = None) -> dict[str, Any]:
    row = {
        "id": id_,
        "organ_id": organ,
        "scheme": "esi" if organ == "METI" else "sds",
        "category": "infrastructure" if organ == "METI" else "defence",
        "summary": f"{id_} summary",
        "designated_on": start,
        "expires_on": end,
    }
    return row | ({"cancelled_on": cancelled} if cancelled else {})


def document_record(id_: str, designation: str | None) -> dict[str, Any]:
    return {"id": id_, "title": f"Title {id_}", "designation_id": designation, "content_base64": ""}


def audit_bundle() -> dict[str, Any]:
    """Two organs; METI staff, a METI contractor, MOD staff; one designation each."""
    return carried_over(
        {
            "organs": [{"id": "METI", "name": "METI"}, {"id": "MOD", "name": "MOD"}],
            "operators": [{"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"}],
            "persons": [
                person_record("P-A"),
                person_record("P-B"),
                person_record("P-M", "MOD"),
                person_record("C-X", None, "ACME"),
            ],
            "assessments": [
                assessment_record("A-A", "P-A", "METI", "esi", NOTIFIED),
                assessment_record("A-B", "P-B", "METI", "esi", NOTIFIED),
                assessment_record("A-X", "C-X", "METI", "esi", NOTIFIED),
                assessment_record("A-M", "P-M", "MOD", "sds", NOTIFIED_MOD),
            ],
            "certifications": [
                {
                    "id": "CERT-1",
                    "operator_id": "ACME",
                    "organ_id": "METI",
                    "certified_on": "2024-05-01",
                    "status": "active",
                }
            ],
            "designations": [
                designation_record("G-E", "METI", "2024-04-01", "2029-03-31"),
                designation_record("G-M", "MOD", "2024-04-01", "2029-03-31"),
            ],
            "contracts": [
                {
                    "id": "K-1",
                    "operator_id": "ACME",
                    "organ_id": "METI",
                    "starts_on": "2024-05-01",
                    "ends_on": "2028-03-31",
                    "designation_ids": ["G-E"],
                    "departments": ["R&D"],
                }
            ],
            "rosters": [
                {"designation_id": "G-E", "person_id": "P-A", "from": "2024-04-01", "until": None},
                {"designation_id": "G-E", "person_id": "C-X", "from": "2024-05-01", "until": None},
                {"designation_id": "G-M", "person_id": "P-M", "from": "2024-04-01", "until": None},
            ],
            "documents": [
                document_record("D-E", "G-E"),
                document_record("D-E2", "G-E"),
                document_record("D-M", "G-M"),
                document_record("D-P", None),
            ],
        }
    )


# (caller, person, document, simulated instant): one decision an hour from T0
SCENARIO: list[tuple[str, str, str, str | None]] = [
    ("dms-1", "P-A", "D-E", None),
    ("dms-1", "P-B", "D-E", None),
    ("dms-2", "P-M", "D-M", None),
    ("dms-2", "P-M", "D-E", None),
    ("dms-1", "C-X", "D-E2", None),
    ("dms-1", "P-A", "D-M", None),
    ("dms-1", "X-NOBODY", "D-E", None),
    ("dms-2", "P-A", "D-NOPE", None),
    ("dms-1", "P-A", "D-E", "2026-01-01T09:00:00+09:00"),
    ("dms-1", "P-A", "D-P", None),
    ("dms-2", "P-B", "D-M", "2026-02-01T09:00:00+09:00"),
    ("dms-1", "C-X", "D-E", None),
]


@dataclass(frozen=True)
class Rec:
    decision_id: str
    caller: str
    person: str
    document: str
    allowed: bool
    codes: tuple[str, ...]
    simulation: bool
    logged_at: datetime
    designation: str | None

    @property
    def organ(self) -> str | None:
        return ORGAN_OF.get(self.designation or "")


@dataclass
class Audited:
    gw: Gateway
    records: list[Rec]  # newest first

    def get(self, path: str, scope: str = AUDIT, **params: Any) -> Any:
        return self.gw.client.get("/v1/audit" + path, params=params, headers=self.gw.keys.auth(scope))


def evaluate_as(gw: Gateway, caller: str, person: str, document: str, at: str | None, **headers: str) -> Any:
    body: dict[str, Any] = {
        "subject": {"type": "person", "id": person},
        "resource": {"type": "document", "id": document},
        "action": {"name": "read"},
    }
    scopes = ["authz:evaluate"] + (["authz:simulate"] if at else [])
    if at:
        body["context"] = {"time": at}
    auth = gw.keys.auth(*scopes, sub=caller)
    response = gw.client.post("/access/v1/evaluation", json=body, headers=auth | headers)
    assert response.status_code == 200, response.text
    return response.json()


def run_scenario(gw: Gateway) -> list[Rec]:
    answers = []
    for hour, (caller, person, document, at) in enumerate(SCENARIO):
        gw.clock.now = T0 + timedelta(hours=hour)
        answers.append((gw.clock.now, caller, person, document, at, evaluate_as(gw, caller, person, document, at)))
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    with gw.container.engine.connect() as conn:  # the designation each decision rested on, as logged
        facts = dict(conn.execute(select(table.c.decision_id, table.c.facts)).all())
    records = []
    for logged_at, caller, person, document, at, answer in answers:
        decision_id = answer["context"]["decision_id"]
        codes = tuple(r["code"] for r in answer["context"]["reasons"])
        records.append(
            Rec(decision_id, caller, person, document, answer["decision"], codes, at is not None, logged_at,
                facts[decision_id].get("designation"))
        )  # fmt: skip
    return records[::-1]


def jst_at(hours: float) -> str:
    """T0 + hours, written in Japan time (+09:00)."""
    return (T0 + timedelta(hours=hours)).astimezone(JST).isoformat()


def t0_plus(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


FILTERS: list[tuple[dict[str, str], Callable[[Rec], bool]]] = [
    ({}, lambda r: True),
    ({"person": "P-A"}, lambda r: r.person == "P-A"),
    ({"document": "D-E"}, lambda r: r.document == "D-E"),
    ({"decision": "allow"}, lambda r: r.allowed),
    ({"decision": "deny"}, lambda r: not r.allowed),
    ({"reason": "not_on_roster"}, lambda r: "not_on_roster" in r.codes),
    ({"reason": "subject_unknown"}, lambda r: "subject_unknown" in r.codes),
    ({"organ": "METI"}, lambda r: r.organ == "METI"),
    ({"organ": "MOD"}, lambda r: r.organ == "MOD"),
    ({"designation": "G-E"}, lambda r: r.designation == "G-E"),
    ({"designation": "G-M"}, lambda r: r.designation == "G-M"),
    ({"caller": "dms-2"}, lambda r: r.caller == "dms-2"),
    ({"simulation": "true"}, lambda r: r.simulation),
    ({"simulation": "false"}, lambda r: not r.simulation),
    ({"since": "2026-06-01T12:00:00+09:00"}, lambda r: r.logged_at >= t0_plus(3)),
    ({"until": "2026-06-01T03:00:00Z"}, lambda r: r.logged_at < t0_plus(3)),
    ({"since": jst_at(2), "until": jst_at(5)}, lambda r: t0_plus(2) <= r.logged_at < t0_plus(5)),
    (
        {"person": "P-A", "decision": "allow", "simulation": "false"},
        lambda r: r.person == "P-A" and r.allowed and not r.simulation,
    ),
    (
        {"organ": "METI", "decision": "deny", "caller": "dms-1"},
        lambda r: r.organ == "METI" and not r.allowed and r.caller == "dms-1",
    ),
    (
        {"designation": "G-E", "reason": "not_on_roster", "since": "2026-06-01T01:00:00Z"},
        lambda r: r.designation == "G-E" and "not_on_roster" in r.codes and r.logged_at >= t0_plus(1),
    ),
    (
        {"organ": "MOD", "person": "P-M", "document": "D-M"},
        lambda r: (r.organ, r.person, r.document) == ("MOD", "P-M", "D-M"),
    ),
    ({"person": "P-NOBODY-AT-ALL"}, lambda r: False),
    ({"organ": "NPA"}, lambda r: False),
]


def report_bundle() -> dict[str, Any]:
    """Designations, assessments and certifications at the edges of calendar year 2026."""
    persons = [person_record(f"P-R{n}") for n in range(1, 6)]
    return carried_over(
        {
            "organs": [{"id": "METI", "name": "METI"}, {"id": "MOD", "name": "MOD"}, {"id": "NPA", "name": "NPA"}],
            "operators": [
                {"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"},
                {"id": "BETA", "name": "Beta", "corporate_number": "6010401006770"},
                {"id": "GAMMA", "name": "Gamma", "corporate_number": "1180001021290"},
            ],
            "persons": persons,
            "designations": [
                # made on the year's last day, and the next day (next year's)
                designation_record("R-DEC31", "METI", "2026-12-31", "2031-12-30"),
                designation_record("R-JAN1", "METI", "2027-01-01", "2031-12-31"),
                # cancelled on Dec 31; cancelled on Jan 1, so in force on Dec 31
                designation_record("R-CAN31", "METI", "2026-03-01", "2031-02-28", cancelled="2026-12-31"),
                designation_record("R-CANJAN", "METI", "2025-01-10", "2029-12-31", cancelled="2027-01-01"),
                # expired during the year; in force on Dec 31, expiring that night; cancelled, not expired
                designation_record("R-EXP", "METI", "2022-07-01", "2026-06-30"),
                designation_record("R-EXP31", "METI", "2022-01-01", "2026-12-31"),
                designation_record("R-CANEXP", "METI", "2022-01-01", "2026-09-30", cancelled="2026-09-30"),
                designation_record("R-OLD", "METI", "2020-01-01", "2024-12-31"),
                designation_record("R-MOD", "MOD", "2026-05-05", "2030-05-04"),
            ],
            "assessments": [
                assessment_record("RA-1", "P-R1", "METI", "esi", "2026-01-01"),
                assessment_record("RA-2", "P-R2", "METI", "esi", "2026-12-31", "unfavourable"),
                assessment_record("RA-3", "P-R3", "METI", "esi", "2025-12-31"),
                assessment_record("RA-4", "P-R4", "METI", "esi", "2027-01-01"),
                assessment_record("RA-5", "P-R5", "MOD", "sds", "2026-07-07"),  # a METI official assessed by MOD: MOD's
            ],
            "certifications": [
                {
                    "id": "RC-1",
                    "operator_id": "ACME",
                    "organ_id": "METI",
                    "certified_on": "2026-02-02",
                    "status": "active",
                },
                {
                    "id": "RC-2",
                    "operator_id": "BETA",
                    "organ_id": "METI",
                    "certified_on": "2025-12-31",
                    "status": "active",
                },
                {
                    "id": "RC-3",
                    "operator_id": "GAMMA",
                    "organ_id": "MOD",
                    "certified_on": "2026-12-31",
                    "status": "revoked",
                },
            ],
        }
    )
