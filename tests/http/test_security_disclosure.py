"""Issue 12, findings 4 and 6: what a denial tells whom.

4: a reader who may not read a document learns that, and a decision id to quote; never whether the
   document exists, nor its designation, organ or dates.
6 (C9): an assessment's details (its id, organ, scheme, dates, status) reach administrators only; every
   other caller of the evaluation API, and every auditor, reads the reason code and its general meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.rules_registry import rules_bundle
from tests.support import Gateway, Keys, running_gateway

DETAILS = ("A-SUSP", "A-OK", "A-REV", "2025-06-01", "2035-06-01", "by METI", "ESI assessment")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Gateway]:
    tmp_path = tmp_path_factory.mktemp("disclosure")
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}", tmp_path, keys) as gateway:
        gateway.import_bundle(rules_bundle())
        gateway.clock.set("2026-06-01T03:00:00+00:00")
        yield gateway


def _release(gw: Gateway, document: str, person: str) -> Any:
    return gw.client.get(f"/v1/documents/{document}/content", headers=gw.keys.auth("documents:read", sub=person))


def _anonymous(response: Any) -> tuple[int, str, list[str]]:
    """The answer with its decision id taken out: what would tell one denial from another."""
    decision_id = response.json()["decision_id"]
    assert response.headers["X-Decision-Id"] == decision_id
    headers = sorted(k for k in response.headers if k.lower() not in ("date",))
    return response.status_code, response.text.replace(decision_id, "<id>"), headers


@pytest.mark.parametrize(
    ("document", "person", "why"),
    [
        ("D-ESI", "P-NOROSTER", "not on the roster"),
        ("D-CAN", "P-MULTI", "cancelled designation, no clearance, not on the roster"),
        ("D-MOD", "P-OK", "another organ's information"),
        ("D-SDS", "P-OK", "a higher tier"),
        ("D-ESI", "P-SUSP", "a suspended clearance"),
        ("D-ESI", "P-GHOST", "an unknown reader"),
    ],
)
def test_finding_4_every_release_denial_looks_like_an_unknown_document(
    gw: Gateway, document: str, person: str, why: str
) -> None:
    unknown = _release(gw, "D-DOES-NOT-EXIST", person)
    denied = _release(gw, document, person)
    assert denied.status_code == 403, why
    assert _anonymous(denied) == _anonymous(unknown), why
    body = denied.json()
    assert set(body) == {"type", "title", "status", "detail", "decision_id"}
    for leak in ("G-", "METI", "MOD", "esi", "sds", "2025", "2030", "reason", document):
        assert leak not in body["detail"] + body["title"], leak


def test_finding_4_the_full_reasons_are_in_the_log_for_auditors(gw: Gateway) -> None:
    denied = _release(gw, "D-ESI", "P-NOROSTER")
    item = gw.client.get(f"/v1/audit/decisions/{denied.json()['decision_id']}", headers=gw.keys.auth("audit:read"))
    assert [r["code"] for r in item.json()["reasons"]] == ["not_on_roster"]


def _evaluate(gw: Gateway, person: str, document: str, *scopes: str, at: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": {"type": "person", "id": person},
                            "resource": {"type": "document", "id": document}, "action": {"name": "read"}}
    if at:
        body["context"] = {"time": at}
    response = gw.client.post("/access/v1/evaluation", json=body, headers=gw.keys.auth(*scopes))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


CASES = [  # (person, document, instant, code)
    ("P-SUSP", "D-ESI", None, "clearance_suspended"),
    ("P-REV", "D-ESI", None, "clearance_revoked"),
    ("P-OK", "D-LONG", "2035-06-02T00:00:00+09:00", "clearance_expired"),
    ("P-OK", "D-SDS", None, "clearance_insufficient"),
]


@pytest.mark.parametrize(("person", "document", "at", "code"), CASES, ids=[c[3] for c in CASES])
def test_finding_6_assessment_details_reach_administrators_only(
    gw: Gateway, person: str, document: str, at: str | None, code: str
) -> None:
    system = _evaluate(gw, person, document, "authz:evaluate", "authz:simulate", at=at)
    assert code in [r["code"] for r in system["context"]["reasons"]]  # the code is the API's contract
    for reason in system["context"]["reasons"]:
        assert not any(detail in reason["message"] for detail in DETAILS), reason
    audit = gw.client.get(f"/v1/audit/decisions/{system['context']['decision_id']}",
                          headers=gw.keys.auth("audit:read")).json()
    assert [r["code"] for r in audit["reasons"]] == [r["code"] for r in system["context"]["reasons"]]
    assert audit["reasons"] == system["context"]["reasons"]  # auditors read what the system read
    admin = _evaluate(gw, person, document, "authz:evaluate", "authz:simulate", "registry:admin", at=at)
    message = next(r["message"] for r in admin["context"]["reasons"] if r["code"] == code)
    assert "assessment" in message or "clearance by METI" in message, message
    assert any(detail in message for detail in (*DETAILS, "METI")), message
