"""The auditors' API (api.md "Audit"): decisions (R1) filtered and paged, one decision, exports, the
change log (R4) and the annual report (R3); all under `audit:read` only, and never a decision's raw
inputs nor an assessment's content (C9)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.audit import query
from gateway.audit.chain import append
from gateway.audit.export import safe_cell
from gateway.audit.query import DecisionFilter, decision_chunks
from gateway.audit.record import decision_row
from models import ChangeEvent, DecisionRecord
from tests.support import Clock, Gateway, Keys, carried_over, fresh_database, running_gateway

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
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


def _person(id_: str, organ: str | None = "METI", operator: str | None = None) -> dict[str, Any]:
    if operator:
        return {"id": id_, "name": f"Name {id_}", "kind": "contractor", "operator_id": operator, "department": "R&D"}
    return {"id": id_, "name": f"Name {id_}", "kind": "government", "organ_id": organ}


def _assessment(id_: str, person: str, organ: str, scheme: str, notified: str, result: str = "favourable") -> Any:
    return {
        "id": id_,
        "person_id": person,
        "organ_id": organ,
        "scheme": scheme,
        "result": result,
        "notified_on": notified,
        "status": "active",
    }


def _designation(id_: str, organ: str, start: str, end: str, cancelled: str | None = None) -> dict[str, Any]:
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


def _document(id_: str, designation: str | None) -> dict[str, Any]:
    return {"id": id_, "title": f"Title {id_}", "designation_id": designation, "content_base64": ""}


def audit_bundle() -> dict[str, Any]:
    """Two organs; METI staff, a METI contractor, MOD staff; one designation each."""
    return carried_over({
        "organs": [{"id": "METI", "name": "METI"}, {"id": "MOD", "name": "MOD"}],
        "operators": [{"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"}],
        "persons": [_person("P-A"), _person("P-B"), _person("P-M", "MOD"), _person("C-X", None, "ACME")],
        "assessments": [
            _assessment("A-A", "P-A", "METI", "esi", NOTIFIED),
            _assessment("A-B", "P-B", "METI", "esi", NOTIFIED),
            _assessment("A-X", "C-X", "METI", "esi", NOTIFIED),
            _assessment("A-M", "P-M", "MOD", "sds", NOTIFIED_MOD),
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
            _designation("G-E", "METI", "2024-04-01", "2029-03-31"),
            _designation("G-M", "MOD", "2024-04-01", "2029-03-31"),
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
            _document("D-E", "G-E"),
            _document("D-E2", "G-E"),
            _document("D-M", "G-M"),
            _document("D-P", None),
        ],
    })


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


def _run_scenario(gw: Gateway) -> list[Rec]:
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


@pytest.fixture(scope="module", params=BACKENDS)
def audited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Audited]:
    """One gateway per backend with the scenario's decisions logged; the tests here only read it."""
    directory = tmp_path_factory.mktemp("audit")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys, Clock()) as gw:
        gw.import_bundle(audit_bundle())
        yield Audited(gw, _run_scenario(gw))


def test_the_scenario_is_varied_enough_to_test_filters(audited: Audited) -> None:
    records = audited.records
    assert {r.allowed for r in records} == {True, False}
    assert {r.organ for r in records} == {"METI", "MOD", None}
    assert any(len(r.codes) > 1 for r in records) and any(r.simulation for r in records)


# --- list and filters ----------------------------------------------------------------------------


def _at(hours: float) -> str:
    """T0 + hours, written in Japan time (+09:00)."""
    return (T0 + timedelta(hours=hours)).astimezone(JST).isoformat()


def _h(hours: float) -> datetime:
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
    ({"since": "2026-06-01T12:00:00+09:00"}, lambda r: r.logged_at >= _h(3)),
    ({"until": "2026-06-01T03:00:00Z"}, lambda r: r.logged_at < _h(3)),
    ({"since": _at(2), "until": _at(5)}, lambda r: _h(2) <= r.logged_at < _h(5)),
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
        lambda r: r.designation == "G-E" and "not_on_roster" in r.codes and r.logged_at >= _h(1),
    ),
    (
        {"organ": "MOD", "person": "P-M", "document": "D-M"},
        lambda r: (r.organ, r.person, r.document) == ("MOD", "P-M", "D-M"),
    ),
    ({"person": "P-NOBODY-AT-ALL"}, lambda r: False),
    ({"organ": "NPA"}, lambda r: False),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[json.dumps(p) for p, _ in FILTERS])
def test_filters_one_by_one_and_combined(
    audited: Audited, params: dict[str, str], expected: Callable[..., bool]
) -> None:
    response = audited.get("/decisions", **params, limit=500)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert [i["decision_id"] for i in body["items"]] == [r.decision_id for r in audited.records if expected(r)]
    if params and "NOBODY" not in str(params) and params.get("organ") != "NPA":
        assert body["items"], "a filter case that matches nothing proves little"


def test_an_item_has_the_documented_shape(audited: Audited) -> None:
    [first_allowed] = [r for r in audited.records if r.person == "C-X" and r.document == "D-E2"]
    [item] = [
        i for i in audited.get("/decisions", limit=500).json()["items"] if i["decision_id"] == first_allowed.decision_id
    ]
    assert set(item) == ITEM_KEYS
    assert item["caller"] == {"sub": "dms-1", "client": "test-client"}
    assert (item["person"], item["document"], item["action"], item["decision"]) == ("C-X", "D-E2", "read", "allow")
    assert item["facts"] == {
        "designation": "G-E",
        "clearance": "A-X",
        "certification": "CERT-1",
        "contract": "K-1",
        "roster": "G-E/C-X",
        "registry_version": item["facts"]["registry_version"],
    }
    assert item["reasons"] == [] and item["simulation"] is False and item["channel"] == "authzen"
    assert datetime.fromisoformat(item["logged_at"]) == first_allowed.logged_at
    assert item["policy_version"].startswith("sha256:")


@pytest.mark.parametrize(
    ("limit", "params"), [(1, {}), (3, {}), (5, {}), (2, {"decision": "deny"}), (2, {"person": "P-A"})]
)
def test_paging_covers_every_item_once_in_order(audited: Audited, limit: int, params: dict[str, str]) -> None:
    everything = [i["decision_id"] for i in audited.get("/decisions", limit=500, **params).json()["items"]]
    pages, seen, cursor = 0, [], None
    while True:
        body = audited.get("/decisions", limit=limit, **params, **({"cursor": cursor} if cursor else {})).json()
        pages += 1
        assert len(body["items"]) <= limit
        seen += [i["decision_id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == limit
    assert seen == everything  # no duplicates, no gaps, newest first
    assert pages == -(-len(everything) // limit) > 1


def _b64(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


BAD_CURSORS = [
    "garbage",
    "",
    "!!!!",
    "e30",  # {}
    _b64([1, 2]),
    _b64({"l": "decisions", "s": "5", "q": "x"}),
    _b64({"l": "decisions", "s": -3, "q": "x"}),
    _b64({"l": "changes", "s": 3, "q": "x"}),
    "A" * 500,
    "ü",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_garbage_or_tampered_cursor_is_a_400_problem(audited: Audited, cursor: str) -> None:
    response = audited.get("/decisions", cursor=cursor)
    problem = _problem(response, 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/query/cursor"]


def test_a_cursor_continues_only_its_own_query(audited: Audited) -> None:
    cursor = audited.get("/decisions", limit=1, decision="deny").json()["next_cursor"]
    assert audited.get("/decisions", limit=1, decision="deny", cursor=cursor).status_code == 200
    _problem(audited.get("/decisions", limit=1, decision="allow", cursor=cursor), 400)
    _problem(audited.get("/changes", limit=1, cursor=cursor), 400)
    cursor = audited.get("/decisions", limit=1, since="2026-06-01T09:00:00+09:00").json()["next_cursor"]
    same_instant = audited.get("/decisions", limit=1, since="2026-06-01T00:00:00Z", cursor=cursor)
    assert same_instant.status_code == 200  # the same instant, however its offset is written
    changes_cursor = audited.get("/changes", limit=1).json()["next_cursor"]
    _problem(audited.get("/decisions", limit=1, cursor=changes_cursor), 400)


BAD_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({"since": "2026-06-01T00:00:00"}, "/query/since"),
    ({"until": "2026-06-01T00:00:00"}, "/query/until"),
    ({"since": "2026-06-01"}, "/query/since"),
    ({"since": "yesterday"}, "/query/since"),
    ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "/query/until"),
    ({"decision": "maybe"}, "/query/decision"),
    ({"reason": "no_such_code"}, "/query/reason"),
    ({"simulation": "perhaps"}, "/query/simulation"),
    ({"limit": 0}, "/query/limit"),
    ({"limit": 501}, "/query/limit"),
    ({"limit": "ten"}, "/query/limit"),
    ({"person": "P\x00A"}, "/query/person"),
    ({"organ": "\x00"}, "/query/organ"),
]


BAD_CASES = [(path, params, pointer) for path in ("/decisions", "/export") for params, pointer in BAD_QUERIES]
BAD_CASES = [case for case in BAD_CASES if not (case[0] == "/export" and "limit" in case[1])]  # no pages there


@pytest.mark.parametrize(
    ("path", "params", "pointer"), BAD_CASES, ids=[f"{c[0]} {json.dumps(c[1])}" for c in BAD_CASES]
)
def test_bad_query_parameters_are_400_problems_naming_the_field(
    audited: Audited, path: str, params: dict[str, Any], pointer: str
) -> None:
    problem = _problem(audited.get(path, **params), 400)
    assert pointer in [e["pointer"] for e in problem["errors"]]


def test_a_plus_sign_left_unescaped_in_the_url_is_read_as_the_offset(audited: Audited) -> None:
    escaped = audited.get("/decisions", since="2026-06-01T12:00:00+09:00").json()
    raw = audited.gw.client.get(
        "/v1/audit/decisions?since=2026-06-01T12:00:00+09:00", headers=audited.gw.keys.auth(AUDIT)
    )
    assert raw.status_code == 200 and raw.json() == escaped


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body  # type: ignore[no-any-return]


# --- one decision --------------------------------------------------------------------------------


def test_one_decision_is_the_list_item(audited: Audited) -> None:
    items = audited.get("/decisions", limit=500).json()["items"]
    for item in items:
        response = audited.get(f"/decisions/{item['decision_id']}")
        assert response.status_code == 200 and response.json() == item


@pytest.mark.parametrize("decision_id", ["01ZZZZZZZZZZZZZZZZZZZZZZZZ", "nothing-here", "%00"])
def test_an_unknown_decision_is_a_404_problem(audited: Audited, decision_id: str) -> None:
    _problem(audited.get(f"/decisions/{decision_id}"), 404)


# --- C9: never the inputs, never an assessment's content -----------------------------------------


def _bodies(audited: Audited) -> dict[str, str]:
    items = audited.get("/decisions", limit=500).json()["items"]
    bodies = {"list": audited.get("/decisions", limit=500).text}
    bodies |= {f"one {i['decision_id']}": audited.get(f"/decisions/{i['decision_id']}").text for i in items}
    bodies |= {f"export {f}": audited.get("/export", format=f).text for f in ("csv", "jsonl")}
    bodies["changes"] = audited.get("/changes", limit=500).text
    bodies["report"] = audited.get("/reports/annual", year=2019).text
    return bodies


def test_no_audit_answer_carries_raw_inputs_or_assessment_content(audited: Audited) -> None:
    table = DecisionRecord.__table__  # type: ignore[attr-defined]
    with audited.gw.container.engine.connect() as conn:
        logged_inputs = [r for (r,) in conn.execute(select(table.c.inputs)) if r]
    assert NOTIFIED in json.dumps(logged_inputs)  # the log holds them (for replay by administrators) ...
    for name, body in _bodies(audited).items():  # ... and no auditor ever sees them
        assert "inputs" not in body, name
        assert NOTIFIED not in body and NOTIFIED_MOD not in body, name


def test_the_change_log_withholds_assessment_content(audited: Audited) -> None:
    items = audited.get("/changes", limit=500).json()["items"]
    assessments = [i for i in items if i["entity"] == "assessment"]
    assert {i["entity_id"] for i in assessments} == {"A-A", "A-B", "A-X", "A-M"}
    for item in assessments:
        assert item["before"] is None and item["after"] is None and item["withheld"] is True
        assert {"result", "notified_on", "status"} <= set(item["fields_changed"])
    designation = next(i for i in items if i["entity"] == "designation" and i["entity_id"] == "G-E")
    assert designation["after"]["expires_on"] == "2029-03-31"  # other records are shown in full (R4)


# --- scopes: auditors read, administrators change; neither does the other's work -----------------

EVALUATION = {
    "subject": {"type": "person", "id": "P-A"},
    "resource": {"type": "document", "id": "D-E"},
    "action": {"name": "read"},
}
AUDIT_ROUTES = [
    "/v1/audit/decisions",
    "/v1/audit/decisions/01ZZZZZZZZZZZZZZZZZZZZZZZZ",
    "/v1/audit/export?format=jsonl",
    "/v1/audit/changes",
    "/v1/audit/reports/annual?year=2026",
]
ADMIN_ROUTES = [
    ("POST", "/v1/admin/registry/import", {"organs": []}),
    ("POST", "/v1/admin/policy/reload", None),
    ("GET", "/v1/admin/policy", None),
    ("POST", "/v1/admin/assessments/A-A/suspend", None),
    ("POST", "/v1/admin/certifications/CERT-1/revoke", None),
    ("POST", "/v1/admin/designations/G-E/extend", {"expires_on": "2030-03-31", "cabinet_approval_ref": None}),
    ("POST", "/v1/admin/designations/G-E/cancel", {"cancelled_on": "2026-07-01"}),
    ("PUT", "/v1/admin/rosters/G-E/P-B", {"from": "2026-06-01", "until": None}),
    ("DELETE", "/v1/admin/rosters/G-E/P-A", None),
    ("POST", "/access/v1/evaluation", EVALUATION),
]


@pytest.mark.parametrize(
    "scope", ["registry:admin", "policy:admin", "authz:evaluate", "authz:simulate", "documents:read"]
)
@pytest.mark.parametrize("path", AUDIT_ROUTES)
def test_only_auditors_read_the_logs(audited: Audited, scope: str, path: str) -> None:
    client, keys = audited.gw.client, audited.gw.keys
    _problem(client.get(path, headers=keys.auth(scope)), 403)
    _problem(client.get(path), 401)
    assert client.get(path, headers=keys.auth(scope, AUDIT)).status_code in (200, 404)  # both scopes: both rights


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_auditors_cannot_change_anything(audited: Audited, method: str, path: str, body: Any) -> None:
    before = _counts(audited.gw)
    response = audited.gw.client.request(method, path, json=body, headers=audited.gw.keys.auth(AUDIT))
    _problem(response, 403)
    assert _counts(audited.gw) == before


def _counts(gw: Gateway) -> tuple[int, int]:
    with gw.container.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one(),  # type: ignore[arg-type]
            conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one(),  # type: ignore[arg-type]
        )


# --- exports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"person": "P-A"}, {"organ": "MOD", "decision": "deny"}, {"since": _at(4)}])
def test_exports_parse_back_and_match_the_list(audited: Audited, params: dict[str, str]) -> None:
    items = audited.get("/decisions", limit=500, **params).json()["items"]
    assert items

    jsonl = audited.get("/export", format="jsonl", **params)
    assert jsonl.status_code == 200 and jsonl.headers["content-type"] == "application/x-ndjson"
    assert jsonl.headers["content-disposition"].startswith("attachment; filename=decisions-")
    assert jsonl.headers["content-disposition"].endswith(".jsonl")
    assert [json.loads(line) for line in jsonl.text.splitlines()] == items

    exported = audited.get("/export", format="csv", **params)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith("attachment; filename=decisions-")
    assert exported.headers["content-disposition"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [_from_csv(row) for row in rows] == [_flat(item) for item in items]


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in item.items() if k not in ("caller", "reasons")},
        "caller_sub": item["caller"]["sub"],
        "caller_client": item["caller"]["client"],
        "reason_codes": " ".join(r["code"] for r in item["reasons"]),
        "reasons": item["reasons"],
    }


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    return {
        **row,
        "request_id": row["request_id"] or None,
        "caller_client": row["caller_client"] or None,
        "reasons": json.loads(row["reasons"]),
        "facts": json.loads(row["facts"]),
        "simulation": {"true": True, "false": False}[row["simulation"]],
        "latency_us": int(row["latency_us"]),
    }


def test_an_unknown_export_format_is_a_400_problem(audited: Audited) -> None:
    problem = _problem(audited.get("/export", format="xlsx"), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/query/format"]


def test_chunked_reading_covers_every_decision_once(audited: Audited) -> None:
    chunks = list(decision_chunks(audited.gw.container.engine, DecisionFilter(), chunk=5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    assert [i["decision_id"] for c in chunks for i in c] == [r.decision_id for r in audited.records]


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+81-3-1234", "'+81-3-1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("P-A", "P-A"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_that_start_a_formula_are_quoted(cell: str, shown: str) -> None:
    assert safe_cell(cell) == shown


def test_csv_injection_through_logged_values_is_escaped(gateway: Gateway) -> None:
    gateway.import_bundle(audit_bundle())
    # Ids cannot start a formula (the id alphabet), but a caller's name, an action and a request id can.
    body = {"subject": {"type": "person", "id": "P-A"}, "resource": {"type": "document", "id": "D-E"},
            "action": {"name": '=HYPERLINK("http://evil.example","x")'}}
    auth = gateway.keys.auth("authz:evaluate", sub="+cmd|' /C calc'!A0")
    answered = gateway.client.post("/access/v1/evaluation", json=body, headers={**auth, "X-Request-ID": "-2+3"})
    assert answered.status_code == 200, answered.text
    response = gateway.client.get("/v1/audit/export", params={"format": "csv"}, headers=gateway.keys.auth(AUDIT))
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["action"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["caller_sub"] == "'+cmd|' /C calc'!A0"
    assert row["request_id"] == "'-2+3"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    jsonl = gateway.client.get("/v1/audit/export", params={"format": "jsonl"}, headers=gateway.keys.auth(AUDIT))
    assert json.loads(jsonl.text)["action"] == '=HYPERLINK("http://evil.example","x")'  # JSON keeps the value


@pytest.mark.slow
def test_a_large_export_streams_in_chunks(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 20_000
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        decision_row(
            decision_id=f"BULK{n:022d}",
            logged_at=now + timedelta(milliseconds=n),
            evaluated_at=now,
            caller_sub="bulk",
            caller_client=None,
            request_id=None,
            channel="authzen",
            person_id=f"P-{n % 97}",
            document_id="D-E",
            action="read",
            allowed=n % 3 == 0,
            reasons=[] if n % 3 == 0 else [{"code": "not_on_roster", "message": "not on the roster"}],
            policy_version="sha256:bulk",
            facts={"designation": "G-E", "registry_version": 1},
            inputs={"secret": NOTIFIED},
            simulation=False,
            latency_us=n,
        )
        for n in range(total)
    ]
    with gateway.container.engine.begin() as conn:
        append(conn, "decisions", rows)  # chained like any logged decision (R2)
    limits: list[int] = []
    chunked = query._decisions

    def spy(filters: DecisionFilter, below: int | None, limit: int, lowest: int | None = None) -> Any:
        limits.append(limit)
        return chunked(filters, below, limit, lowest)

    monkeypatch.setattr(query, "_decisions", spy)
    for fmt, header in (("jsonl", 0), ("csv", 1)):
        limits.clear()
        count, first, last = 0, "", ""
        with gateway.client.stream(
            "GET", "/v1/audit/export", params={"format": fmt}, headers=gateway.keys.auth(AUDIT)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():  # counted as they come; nothing kept but the first and last
                count += 1
                first = line if count == 1 + header else first
                last = line
        assert count == total + header
        assert f"BULK{total - 1:022d}" in first and f"BULK{0:022d}" in last  # newest first
        assert NOTIFIED not in first and "inputs" not in first
        assert limits == [query.EXPORT_CHUNK] * (total // query.EXPORT_CHUNK + 1)  # keyset chunks, never all at once


# --- time windows --------------------------------------------------------------------------------
#
# A page of a since/until window walks only the seq range its rows lie in (query._newest), yet seq and
# time disagree when replicas' clocks do. Here two replicas take turns: even rows from A, on time; odd
# rows from B, whose clock is 95 s behind. So the window's earliest-logged row is not its lowest seq, nor
# its latest-logged row its highest, and every answer must still be exactly the window, newest first.

W0 = datetime(2026, 3, 1, tzinfo=UTC)
REPLICA_ROWS = 300


def _w(seconds: float, microseconds: int = 0) -> datetime:
    return W0 + timedelta(seconds=seconds, microseconds=microseconds)


def _replica_time(k: int) -> datetime:
    """Row k's time: A's (even k) at 0, 20, 40 s ...; B's (odd k) at -85, -65 ... 15, 35 s (20 s apart)."""
    return _w(10 * k - (95 if k % 2 else 0))


@dataclass
class Replicas:
    gw: Gateway
    rows: list[tuple[str, datetime, str]]  # (decision id, logged_at, person) in seq order

    def expected(self, since: datetime | None, until: datetime | None, person: str | None = None) -> list[str]:
        return [
            decision_id
            for decision_id, at, who in reversed(self.rows)
            if (since is None or at >= since) and (until is None or at < until) and person in (None, who)
        ]


def _replica_decision(k: int) -> dict[str, Any]:
    return decision_row(
        decision_id=f"W{k:04d}", logged_at=_replica_time(k), evaluated_at=_replica_time(k),
        caller_sub="dms-1", caller_client=None, request_id=None, channel="authzen",
        person_id="P-B" if k % 2 else "P-A", document_id="D-E", action="read", allowed=True, reasons=[],
        policy_version="sha256:replicas", facts={}, inputs=None, simulation=False, latency_us=1,
    )  # fmt: skip


def _replica_change(k: int) -> dict[str, Any]:
    replica = "B" if k % 2 else "A"
    return {"at": _replica_time(k), "actor": f"replica-{replica}", "request_id": None, "action": "organ.update",
            "entity": "organ", "entity_id": f"O-{k:04d}", "before": None, "after": None}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: Keys
) -> Iterator[Replicas]:
    """Both logs with the two replicas' rows (each log its own seq), and nothing else."""
    directory = tmp_path_factory.mktemp("replicas")
    with fresh_database(request.param, directory) as url, running_gateway(url, directory, keys, Clock()) as gw:
        with gw.container.engine.begin() as conn:
            append(conn, "decisions", [_replica_decision(k) for k in range(REPLICA_ROWS)])
            append(conn, "changes", [_replica_change(k) for k in range(REPLICA_ROWS)])
        rows = [(f"W{k:04d}", _replica_time(k), "P-B" if k % 2 else "P-A") for k in range(REPLICA_ROWS)]
        yield Replicas(gw, rows)


@dataclass
class Strategy:
    name: str
    range_reads: int = 0  # how often a page learned the exact seq range of its rows


@pytest.fixture(params=["chosen", "scan", "walk"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Strategy:
    """How a page finds where its rows lie: as `_newest` chooses; forced to learn their exact seq range
    wherever it may (scan); or never, walking down to the log's oldest row instead (walk). Every way
    must give the same answers."""
    chosen = Strategy(request.param)
    seq_range = query._Windowed.seq_range

    def counted(self: Any, conn: Any) -> Any:
        chosen.range_reads += 1
        return seq_range(self, conn)

    monkeypatch.setattr(query._Windowed, "seq_range", counted)
    if chosen.name != "chosen":
        spread = 0 if chosen.name == "scan" else 10**12
        monkeypatch.setattr(query._Landmarks, "spread", property(lambda self: spread))
    return chosen


WINDOWS: list[tuple[str, datetime | None, datetime | None]] = [
    ("rows of B above the latest-logged row, rows of A below the earliest", _w(1003), _w(2003)),
    ("since and until on B's rows", _w(1015), _w(2015)),
    ("since and until on A's rows", _w(1000), _w(2000)),
    ("a microsecond after since's row and after until's row", _w(1015, 1), _w(2000, 1)),
    ("near the newest rows", _w(2603), _w(2951)),
    ("since only", _w(2503), None),
    ("until only", None, _w(497)),
    ("around the whole log", _w(-(10**6)), _w(10**6)),
    ("between two rows: empty", _w(1001), _w(1015)),
    ("before the log: empty", _w(-(10**6)), _w(-100)),
    ("after the log: empty", _w(10**6), _w(2 * 10**6)),
]
WINDOW_IDS = [name for name, _, _ in WINDOWS]


def _window_params(since: datetime | None, until: datetime | None) -> dict[str, str]:
    return {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}


def _all_pages(gw: Gateway, path: str, params: dict[str, Any], limit: int) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        query_params = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = gw.client.get(f"/v1/audit/{path}", params=query_params, headers=gw.keys.auth(AUDIT))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        if (cursor := body["next_cursor"]) is None:
            return pages
        assert len(body["items"]) == limit


def test_the_replicas_log_is_out_of_time_order_around_the_windows(replicas: Replicas) -> None:
    """The window tests prove something only if seq and time disagree at the windows' edges."""
    in_window = [(k, at) for k, (_, at, _) in enumerate(replicas.rows) if _w(1003) <= at < _w(2003)]
    earliest, latest = min(in_window, key=lambda r: r[1])[0], max(in_window, key=lambda r: r[1])[0]
    assert any(k < earliest for k, _ in in_window) and any(k > latest for k, _ in in_window)
    assert "W0111" in replicas.expected(_w(1015), _w(2015))  # logged at `since` exactly: in
    assert "W0211" not in replicas.expected(_w(1015), _w(2015))  # logged at `until` exactly: out
    assert "W0111" not in replicas.expected(_w(1015, 1), _w(2000, 1))
    assert "W0200" in replicas.expected(_w(1015, 1), _w(2000, 1))


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_a_time_window_is_exactly_its_rows_on_every_page(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    """Since inclusive, until exclusive, newest first; paged by the cursor, every row exactly once."""
    expected = replicas.expected(since, until)
    assert bool(expected) is ("empty" not in name)
    params = _window_params(since, until)
    [whole] = _all_pages(replicas.gw, "decisions", params, 500)
    assert [i["decision_id"] for i in whole] == expected
    pages = _all_pages(replicas.gw, "decisions", params, 7)
    assert [i["decision_id"] for page in pages for i in page] == expected
    assert len(pages) == max(1, -(-len(expected) // 7))
    if strategy.name == "walk":
        assert strategy.range_reads == 0
    elif strategy.name == "scan" and expected:  # on the first page with `until`, else on the last with `since`
        assert strategy.range_reads >= 1


@pytest.mark.parametrize("person", ["P-B", "P-NOBODY"])
def test_a_time_window_with_another_filter_pages_only_their_common_rows(
    replicas: Replicas, strategy: Strategy, person: str
) -> None:
    params = _window_params(_w(1003), _w(2003)) | {"person": person}
    pages = _all_pages(replicas.gw, "decisions", params, 4)
    assert [i["decision_id"] for page in pages for i in page] == replicas.expected(_w(1003), _w(2003), person)


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_an_export_of_a_time_window_is_its_rows_in_chunks(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    chunks = list(decision_chunks(replicas.gw.container.engine, DecisionFilter(since=since, until=until), chunk=9))
    assert [i["decision_id"] for chunk in chunks for i in chunk] == replicas.expected(since, until)
    assert all(len(chunk) == 9 for chunk in chunks[:-1])


@pytest.mark.parametrize(("name", "since", "until"), WINDOWS, ids=WINDOW_IDS)
def test_a_time_window_of_the_change_log_is_exactly_its_events(
    replicas: Replicas, strategy: Strategy, name: str, since: datetime | None, until: datetime | None
) -> None:
    expected = [f"O-{decision_id[1:]}" for decision_id in replicas.expected(since, until)]
    pages = _all_pages(replicas.gw, "changes", _window_params(since, until), 7)
    assert [i["entity_id"] for page in pages for i in page] == expected


# --- change events -------------------------------------------------------------------------------


def test_change_events_page_newest_first_and_filter_by_time(gateway: Gateway) -> None:
    gateway.import_bundle(audit_bundle())
    response = gateway.client.post("/v1/admin/assessments/A-B/suspend", headers=gateway.keys.auth("registry:admin"))
    assert response.status_code == 200, response.text
    auth = gateway.keys.auth(AUDIT)
    everything = gateway.client.get("/v1/audit/changes", params={"limit": 500}, headers=auth).json()["items"]
    with gateway.container.engine.connect() as conn:
        assert len(everything) == conn.execute(select(func.count()).select_from(ChangeEvent.__table__)).scalar_one()  # type: ignore[arg-type]
    assert [i["seq"] for i in everything] == sorted((i["seq"] for i in everything), reverse=True)
    newest = everything[0]
    assert (newest["action"], newest["entity"], newest["entity_id"]) == ("assessment.suspend", "assessment", "A-B")
    assert newest["withheld"] is True and newest["fields_changed"] == ["status"] and newest["after"] is None
    assert newest["actor"] == "pep-1"

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        body = gateway.client.get("/v1/audit/changes", params=params, headers=auth).json()
        seen += [i["seq"] for i in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == [i["seq"] for i in everything]

    at = datetime.fromisoformat(newest["at"])
    since = gateway.client.get("/v1/audit/changes", params={"since": newest["at"]}, headers=auth).json()["items"]
    assert newest["seq"] in [i["seq"] for i in since]
    assert all(datetime.fromisoformat(i["at"]) >= at for i in since)
    until = gateway.client.get("/v1/audit/changes", params={"until": newest["at"], "limit": 500}, headers=auth)
    assert all(datetime.fromisoformat(i["at"]) < at for i in until.json()["items"])
    _problem(gateway.client.get("/v1/audit/changes", params={"since": "2026-01-01T00:00"}, headers=auth), 400)


# --- annual report (R3) --------------------------------------------------------------------------


def report_bundle() -> dict[str, Any]:
    """Designations, assessments and certifications at the edges of calendar year 2026."""
    persons = [_person(f"P-R{n}") for n in range(1, 6)]
    return carried_over({
        "organs": [{"id": "METI", "name": "METI"}, {"id": "MOD", "name": "MOD"}, {"id": "NPA", "name": "NPA"}],
        "operators": [
            {"id": "ACME", "name": "Acme", "corporate_number": "7000012050002"},
            {"id": "BETA", "name": "Beta", "corporate_number": "6010401006770"},
            {"id": "GAMMA", "name": "Gamma", "corporate_number": "1180001021290"},
        ],
        "persons": persons,
        "designations": [
            _designation("R-DEC31", "METI", "2026-12-31", "2031-12-30"),  # made on the year's last day
            _designation("R-JAN1", "METI", "2027-01-01", "2031-12-31"),  # made the next day: next year's
            _designation("R-CAN31", "METI", "2026-03-01", "2031-02-28", cancelled="2026-12-31"),  # cancelled Dec 31
            _designation("R-CANJAN", "METI", "2025-01-10", "2029-12-31", cancelled="2027-01-01"),  # in force Dec 31
            _designation("R-EXP", "METI", "2022-07-01", "2026-06-30"),  # expired during the year
            _designation("R-EXP31", "METI", "2022-01-01", "2026-12-31"),  # in force Dec 31, expires that night
            _designation(
                "R-CANEXP", "METI", "2022-01-01", "2026-09-30", cancelled="2026-09-30"
            ),  # cancelled, not expired
            _designation("R-OLD", "METI", "2020-01-01", "2024-12-31"),
            _designation("R-MOD", "MOD", "2026-05-05", "2030-05-04"),
        ],  # fmt: skip
        "assessments": [
            _assessment("RA-1", "P-R1", "METI", "esi", "2026-01-01"),
            _assessment("RA-2", "P-R2", "METI", "esi", "2026-12-31", "unfavourable"),
            _assessment("RA-3", "P-R3", "METI", "esi", "2025-12-31"),
            _assessment("RA-4", "P-R4", "METI", "esi", "2027-01-01"),
            _assessment("RA-5", "P-R5", "MOD", "sds", "2026-07-07"),  # a METI official assessed by MOD: MOD's
        ],
        "certifications": [
            {"id": "RC-1", "operator_id": "ACME", "organ_id": "METI", "certified_on": "2026-02-02", "status": "active"},
            {"id": "RC-2", "operator_id": "BETA", "organ_id": "METI", "certified_on": "2025-12-31", "status": "active"},
            {
                "id": "RC-3",
                "operator_id": "GAMMA",
                "organ_id": "MOD",
                "certified_on": "2026-12-31",
                "status": "revoked",
            },
        ],
    })


def _figures(made: int, in_force: int, cancelled: int, expired: int, a: tuple[int, int, int]) -> Any:
    return {
        "designations": {"made": made, "in_force_at_year_end": in_force, "cancelled": cancelled, "expired": expired},
        "assessments": {"carried_out": a[0], "favourable": a[1], "unfavourable": a[2]},
    }


# R3: each Act apart. METI's designations and assessments are ESI, MOD's SDS (RA-5: a METI official
# assessed by MOD under SDS), so each Act's figures hold only its own.
REPORT_CASES = [
    # METI 2026, ESI: made R-DEC31, R-CAN31; in force R-DEC31, R-CANJAN, R-EXP31; cancelled R-CAN31, R-CANEXP;
    # expired R-EXP, R-EXP31; assessed RA-1 (favourable), RA-2 (unfavourable)
    (2026, "esi", "METI", _figures(2, 3, 2, 2, (2, 1, 1))),
    (2026, "esi", "MOD", _figures(0, 0, 0, 0, (0, 0, 0))),  # MOD's SDS figures are never ESI's
    (2026, "sds", "MOD", _figures(1, 1, 0, 0, (1, 1, 0))),
    (2026, "sds", "METI", _figures(0, 0, 0, 0, (0, 0, 0))),
    (2026, "esi", "NPA", _figures(0, 0, 0, 0, (0, 0, 0))),
    (2026, "esi", "totals", _figures(2, 3, 2, 2, (2, 1, 1))),
    (2026, "sds", "totals", _figures(1, 1, 0, 0, (1, 1, 0))),
    # METI 2027: made R-JAN1; in force R-DEC31, R-JAN1; cancelled R-CANJAN; assessed RA-4
    (2027, "esi", "METI", _figures(1, 2, 1, 0, (1, 1, 0))),
    # METI 2025: made R-CANJAN; in force R-CANJAN, R-EXP, R-EXP31, R-CANEXP; assessed RA-3
    (2025, "esi", "METI", _figures(1, 4, 0, 0, (1, 1, 0))),
    # METI 2024: R-OLD runs through Dec 31, so it is both in force at year-end and expired in the year
    (2024, "esi", "METI", _figures(0, 4, 0, 1, (0, 0, 0))),
]


@pytest.fixture
def reported(gateway: Gateway) -> Gateway:
    gateway.import_bundle(report_bundle())
    return gateway


def _report(gw: Gateway, **params: Any) -> Any:
    return gw.client.get("/v1/audit/reports/annual", params=params, headers=gw.keys.auth(AUDIT))


@pytest.mark.parametrize(("year", "scheme", "organ", "expected"), REPORT_CASES)
def test_r3_annual_report_figures_each_act_apart(
    reported: Gateway, year: int, scheme: str, organ: str, expected: dict[str, Any]
) -> None:
    response = _report(reported, year=year)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["year"] == year and list(report["acts"]) == ["esi", "sds"]
    act = report["acts"][scheme]
    assert act["scheme"] == scheme and act["act"].startswith("Act on the Protection")
    assert [o["organ_id"] for o in act["organs"]] == ["METI", "MOD", "NPA"]
    shown = act["totals"] if organ == "totals" else next(o for o in act["organs"] if o["organ_id"] == organ)
    assert {k: shown[k] for k in expected} == expected
    assert "P-R" not in response.text  # C9: counts, never who


def test_r3_certifications_name_no_act_and_are_reported_once(reported: Gateway) -> None:
    report = _report(reported, year=2026).json()
    assert report["certifications"] == {
        "organs": [
            {"organ_id": "METI", "name": "METI", "certified": 1},  # RC-1
            {"organ_id": "MOD", "name": "MOD", "certified": 1},  # RC-3, revoked since: certified in the year
            {"organ_id": "NPA", "name": "NPA", "certified": 0},
        ],
        "total": 2,
    }
    assert all("certifications" not in o for act in report["acts"].values() for o in act["organs"])


def test_r3_the_report_counts_designations_by_category(reported: Gateway) -> None:
    acts = _report(reported, year=2026).json()["acts"]
    assert acts["esi"]["categories"] == [{"category": "infrastructure", "made": 2, "in_force_at_year_end": 3}]
    assert acts["sds"]["categories"] == [{"category": "defence", "made": 1, "in_force_at_year_end": 1}]


def test_r3_one_act_only(reported: Gateway) -> None:
    report = _report(reported, year=2026, scheme="sds").json()
    assert list(report["acts"]) == ["sds"]
    refused = _report(reported, year=2026, scheme="both")
    assert [e["pointer"] for e in _problem(refused, 400)["errors"]] == ["/query/scheme"]


@pytest.mark.parametrize("year", ["0", "10000", "twenty", "2026.5", ""])
def test_annual_report_needs_a_year(reported: Gateway, year: str) -> None:
    response = reported.client.get("/v1/audit/reports/annual", params={"year": year}, headers=reported.keys.auth(AUDIT))
    assert [e["pointer"] for e in _problem(response, 400)["errors"]] == ["/query/year"]
