"""Issue 12, findings 2, 8, 9 and 11: ids, instants, cursors and media types a caller may send."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.auth import TokenVerifier
from gateway.policy.files import load_policy
from models import DecisionRecord
from models.identifiers import MAX_ID_LENGTH, id_error
from tests.rules_registry import rules_bundle
from tests.support import POLICY_DIR, Gateway, Keys, assert_problem, running_gateway

EVALUATION = "/access/v1/evaluation"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Gateway]:
    """One gateway for the module: every test here is refused before it could change anything."""
    tmp_path = tmp_path_factory.mktemp("ids")
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}", tmp_path, keys) as gateway:
        gateway.import_bundle(rules_bundle())
        yield gateway


def ask(person: str = "P-OK", document: str = "D-ESI", **extra: Any) -> dict[str, Any]:
    return {"subject": {"type": "person", "id": person}, "resource": {"type": "document", "id": document},
            "action": {"name": "read"}, **extra}


def logged(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one())




# --- finding 2: long ids -------------------------------------------------------------------------


def test_finding_2_a_release_of_a_20_kb_document_id_is_a_400_and_nothing_is_logged_or_memoized(gw: Gateway) -> None:
    before = logged(gw)  # (65 KB, as in the attack, no longer gets past the header limit: 431)
    response = gw.client.get(f"/v1/documents/{'D' * 20_000}/content", headers=gw.keys.auth("documents:read",
                                                                                            sub="P-OK"))
    body = assert_problem(response, 400, "/path/document_id")
    assert len(response.content) < 2000, "the problem does not echo the id"
    assert "DDDD" not in body["detail"]
    assert logged(gw) == before
    assert not any(len(key[1]) > MAX_ID_LENGTH for key in gw.container.decisions.memo.questions())


@pytest.mark.parametrize("role", ["subject", "resource"])
def test_finding_2_an_evaluation_with_an_id_past_64_characters_is_refused(gw: Gateway, role: str) -> None:
    before = logged(gw)
    long_id = "P" * (MAX_ID_LENGTH + 1)
    body = ask(person=long_id) if role == "subject" else ask(document=long_id)
    response = gw.client.post(EVALUATION, json=body, headers=gw.keys.auth("authz:evaluate"))
    assert_problem(response, 400, f"/{role}/id")
    assert logged(gw) == before


def test_finding_2_the_decision_memo_never_keeps_a_long_id_and_messages_clip_it(gw: Gateway) -> None:
    snapshot, memo = gw.container.resolver.current(), gw.container.decisions.memo
    policy = load_policy(POLICY_DIR)
    long_id = "X" * 65_000
    _, decision = memo.decide(snapshot, long_id, "D-ESI", "read", date(2026, 6, 1), policy)
    assert decision.codes == ("subject_unknown",)
    assert all(len(r["message"]) < 200 for r in decision.reason_dicts)
    assert not any(long_id in key for key in memo.questions())
    memo.decide(snapshot, "P-OK", "D-ESI", "read", date(2026, 6, 1), policy)
    assert any("P-OK" in key for key in memo.questions()), "a question within the id rules is kept"


def test_finding_2_the_token_cache_keeps_no_caller_past_its_size(keys: Keys) -> None:
    from gateway.auth import keys_from_jwks
    from tests.support import AUDIENCE, ISSUER

    verifier = TokenVerifier(keys_from_jwks(keys.jwks_file), ISSUER, AUDIENCE)
    verifier.verify(f"Bearer {keys.token('audit:read', sub='S' * 5000)}")
    verifier.verify(f"Bearer {keys.token('audit:read', sub='auditor-1')}")
    assert [c.sub for c in verifier._cache.values()] == ["auditor-1"]


# --- finding 11: look-alike ids --------------------------------------------------------------------

LOOK_ALIKES = [("zero-width space", "P-0001\u200b"), ("full-width", "Ｐ-0001"), ("cyrillic", "Р-0001")]


@pytest.mark.parametrize("look_alike", [v for _, v in LOOK_ALIKES], ids=[k for k, _ in LOOK_ALIKES])
def test_finding_11_look_alike_ids_are_refused_as_new_records(gateway: Gateway, look_alike: str) -> None:
    bundle = {"organs": [{"id": "METI", "name": "METI"}],
              "persons": [{"id": look_alike, "name": "Sato", "kind": "government", "organ_id": "METI"}]}
    admin = gateway.keys.auth("registry:admin")
    response = gateway.client.post("/v1/admin/registry/import", json=bundle, headers=admin)
    assert response.status_code in (400, 422), response.text
    assert "/persons/0/id" in {e["pointer"] for e in response.json()["errors"]}
    person = {"id": look_alike, "name": "Sato", "kind": "government", "organ_id": "METI"}
    gateway.import_bundle({"organs": [{"id": "METI", "name": "METI"}]})
    response = gateway.client.put(f"/v1/admin/persons/{look_alike}", json=person, headers=admin)
    assert response.status_code in (400, 422), response.text
    assert gateway.client.get("/v1/admin/persons", headers=admin).json()["items"] == []


@pytest.mark.parametrize("odd", ["P-0001\u00a0", "P-0001\u0301", "P\u2060-0001", "P-0001\n", "-P", "P/1", "P 1", ""])
def test_finding_11_the_id_alphabet_refuses_the_rest(odd: str) -> None:
    assert id_error(odd) is not None


@pytest.mark.parametrize("good", ["P-0001", "DOC.2026:01", "a", "alice@example.com", "X" * 64, "G_1"])
def test_finding_11_the_id_alphabet_takes_plain_ascii_ids(good: str) -> None:
    assert id_error(good) is None


# --- finding 8: extreme instants and cursors -------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ({"since": "0001-01-01T00:00:00+09:00"}, "/query/since"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "/query/until"),
        ({"since": "9999-12-31T23:59:59+00:00"}, "/query/since"),
        ({"until": "0001-01-01T00:00:00Z"}, "/query/until"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/audit/decisions", "/v1/audit/changes", "/v1/audit/export"])
def test_finding_8_extreme_since_and_until_are_400_problems(
    gw: Gateway, path: str, query: dict[str, str], pointer: str
) -> None:
    response = gw.client.get(path, params=query, headers=gw.keys.auth("audit:read"))
    assert_problem(response, 400, pointer)


@pytest.mark.parametrize("seq", [2**63, 2**64 + 5, 10**30])
@pytest.mark.parametrize("log", ["decisions", "changes"])
def test_finding_8_a_cursor_past_64_bits_is_a_400_problem(gw: Gateway, log: str, seq: int) -> None:
    payload = f'{{"l": "{log}", "s": {seq}, "q": "{"0" * 16}"}}'.encode()  # JSON numbers have no width
    cursor = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    response = gw.client.get(f"/v1/audit/{log}", params={"cursor": cursor}, headers=gw.keys.auth("audit:read"))
    assert_problem(response, 400, "/query/cursor")


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-14:00"])
def test_finding_8_an_extreme_context_time_is_a_400_problem(gw: Gateway, instant: str) -> None:
    before = logged(gw)
    response = gw.client.post(EVALUATION, json=ask(context={"time": instant}),
                              headers=gw.keys.auth("authz:evaluate", "authz:simulate"))
    assert_problem(response, 400, "/context/time")
    assert logged(gw) == before


# --- finding 9: media types ------------------------------------------------------------------------

BAD_MEDIA_TYPES = [("CRLF", "text/plain\r\nX-Injected: 1"), ("NUL", "text/plain\x00"), ("non-ASCII", "text/plaïn"),
                   ("no subtype", "text"), ("a space in the type", "text /plain"), ("LF", "text/plain\n")]


@pytest.mark.parametrize("media_type", [v for _, v in BAD_MEDIA_TYPES], ids=[k for k, _ in BAD_MEDIA_TYPES])
def test_finding_9_an_upload_media_type_must_be_an_rfc_9110_media_type(gw: Gateway, media_type: str) -> None:
    response = gw.client.post(
        "/v1/admin/documents",
        data={"id": "DOC-MT", "title": "T", "media_type": media_type},
        files={"file": ("x.bin", b"abc")},
        headers=gw.keys.auth("registry:admin"),
    )
    assert_problem(response, 400, "/media_type")
    bundle = {"documents": [{"id": "DOC-MT", "title": "T", "media_type": media_type,
                             "content_base64": base64.b64encode(b"abc").decode()}]}
    response = gw.client.post("/v1/admin/registry/import", json=bundle, headers=gw.keys.auth("registry:admin"))
    assert response.status_code in (400, 422), response.text
    assert "/documents/0/media_type" in {e["pointer"] for e in response.json()["errors"]}


def test_finding_9_media_types_with_parameters_are_kept(gw: Gateway) -> None:
    response = gw.client.post(
        "/v1/admin/documents",
        data={"id": "DOC-MT", "title": "T", "media_type": 'text/plain; charset="utf-8"'},
        files={"file": ("x.bin", b"abc")},
        headers=gw.keys.auth("registry:admin"),
    )
    assert response.status_code == 201, response.text
