"""Document release: never a byte without a durably logged decision; bytes out equal bytes in."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, select, text

from models import DecisionRecord
from tests.rules_registry import rules_bundle
from tests.support import Gateway


@pytest.fixture
def gw(gateway: Gateway) -> Gateway:
    gateway.import_bundle(rules_bundle())
    gateway.clock.set("2026-06-01T03:00:00+00:00")
    return gateway


def _read(gw: Gateway, document: str, person: str = "P-OK", scope: str = "documents:read") -> httpx.Response:
    return gw.client.get(f"/v1/documents/{document}/content", headers=gw.keys.auth(scope, sub=person))


def _rows(gw: Gateway) -> int:
    with gw.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(DecisionRecord.__table__)).scalar_one())


def _upload(
    gw: Gateway,
    document: str,
    content: bytes | Path,
    designation: str | None = "G-ESI",
    media_type: str = "application/pdf",
) -> httpx.Response:
    data = {"id": document, "title": f"Upload {document}", "media_type": media_type}
    if designation:
        data["designation_id"] = designation
    body = content.open("rb") if isinstance(content, Path) else content
    return gw.client.post(
        "/v1/admin/documents", data=data, files={"file": ("x.bin", body)}, headers=gw.keys.auth("registry:admin")
    )


def test_an_allowed_reader_gets_the_content_with_its_marking(gw: Gateway) -> None:
    response = _read(gw, "D-ESI")
    assert response.status_code == 200
    assert response.content == b"G-ESI"
    assert unquote(response.headers["X-Classification-Marking"]) == "重要経済安保情報 G-ESI"
    assert response.headers["X-Classification-Tier"] == "esi"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Length"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    with gw.container.engine.connect() as conn:
        row = conn.execute(select(DecisionRecord.__table__)).one()
    assert row.decision_id == response.headers["X-Decision-Id"]
    assert (row.channel, row.person_id, row.allowed) == ("release", "P-OK", True)


def test_sds_marking_and_unclassified_empty_document(gw: Gateway) -> None:
    sds = _read(gw, "D-SDS", person="P-SDS")
    assert unquote(sds.headers["X-Classification-Marking"]) == "特定秘密 G-SDS"
    public = _read(gw, "D-PUB")
    assert public.status_code == 200 and public.content == b""
    assert public.headers["X-Classification-Marking"] == "unclassified"


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 7])
def test_released_bytes_equal_uploaded_bytes(gw: Gateway, size: int) -> None:
    content = os.urandom(size)
    uploaded = _upload(gw, f"UP-{size}", content)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["sha256"] == hashlib.sha256(content).hexdigest()
    response = _read(gw, f"UP-{size}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(content).hexdigest()
    assert response.headers["Content-Type"] == "application/pdf"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_200_mb_document_round_trips(gw: Gateway, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as handle:
        for _ in range(200):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            handle.write(block)
    assert _upload(gw, "BIG", source).status_code == 201
    out = hashlib.sha256()
    with gw.client.stream(
        "GET", "/v1/documents/BIG/content", headers=gw.keys.auth("documents:read", sub="P-OK")
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(200 * 1024 * 1024)
        for chunk in response.iter_bytes():
            out.update(chunk)
    assert out.hexdigest() == digest.hexdigest()


def _logged_codes(gw: Gateway, response: httpx.Response) -> list[str]:
    """The reason codes the decision log holds for a denied release (auditors read them there)."""
    with gw.container.engine.connect() as conn:
        reasons = conn.execute(
            select(DecisionRecord.reasons).where(DecisionRecord.decision_id == response.json()["decision_id"])
        ).scalar_one()
    return [r["code"] for r in reasons]


def test_a_denial_is_a_problem_with_the_decision_and_every_reason_in_the_log(gw: Gateway) -> None:
    response = _read(gw, "D-CAN", person="P-MULTI")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert "reasons" not in problem  # issue 12, finding 4: the reader learns nothing of why
    assert _logged_codes(gw, response) == ["designation_not_in_force", "clearance_missing", "not_on_roster"]
    assert problem["decision_id"] == response.headers["X-Decision-Id"]
    assert "X-Classification-Marking" not in response.headers  # a problem, never content


def test_an_unknown_document_answers_like_a_forbidden_one(gw: Gateway) -> None:
    forbidden = _read(gw, "D-ESI", person="P-NOROSTER")
    unknown = _read(gw, "D-DOES-NOT-EXIST", person="P-NOROSTER")
    assert forbidden.status_code == unknown.status_code == 403
    assert forbidden.json().keys() == unknown.json().keys()
    assert _logged_codes(gw, unknown) == ["document_unknown"]


def test_the_reader_is_the_token_subject_and_needs_the_scope(gw: Gateway) -> None:
    assert _logged_codes(gw, _read(gw, "D-ESI", person="P-NOROSTER")) == ["not_on_roster"]
    assert _logged_codes(gw, _read(gw, "D-ESI", person="P-GHOST"))[0] == "subject_unknown"
    rows = _rows(gw)
    for scope in ("authz:evaluate", "registry:admin", "audit:read"):
        response = _read(gw, "D-ESI", scope=scope)
        assert response.status_code == 403 and b"G-ESI" not in response.content
        assert "decision_id" not in response.json()
    assert _rows(gw) == rows  # no decision was made for a caller without the scope
    assert gw.client.get("/v1/documents/D-ESI/content").status_code == 401


@pytest.mark.parametrize(
    "trick",
    [
        "../D-ESI",
        "..%2FD-ESI",
        "D-ESI%2F..",
        "%2E%2E/%2E%2E/etc/passwd",
        "D-ESI%00",
        "a" * 5000,
        "%252e%252e%252fD-ESI",
    ],
)
def test_path_tricks_in_ids_find_nothing(gw: Gateway, trick: str) -> None:
    response = gw.client.get(f"/v1/documents/{trick}/content", headers=gw.keys.auth("documents:read", sub="P-OK"))
    assert response.status_code in (400, 403, 404)  # 400: an id the id rules refuse (issue 12, finding 2)
    assert b"G-ESI" not in response.content or response.status_code != 200
    if response.status_code == 403:
        assert _logged_codes(gw, response) == ["document_unknown"]


def test_a_designation_that_lapses_mid_session_stops_the_release(gw: Gateway) -> None:
    gw.clock.set("2026-03-31T14:59:00+00:00")  # 23:59 JST on the last day before the cancellation
    assert _read(gw, "D-CAN").status_code == 200
    gw.clock.set("2026-03-31T15:00:00+00:00")  # 00:00 JST on 2026-04-01
    response = _read(gw, "D-CAN")
    assert response.status_code == 403
    assert _logged_codes(gw, response) == ["designation_not_in_force"]


def test_no_byte_leaves_when_the_decision_cannot_be_logged(gw: Gateway) -> None:
    with gw.container.engine.begin() as conn:
        conn.execute(text("ALTER TABLE decisions RENAME TO decisions_unavailable"))
    response = _read(gw, "D-ESI")
    assert response.status_code == 503
    assert b"G-ESI" not in response.content
    with gw.container.engine.begin() as conn:
        conn.execute(text("ALTER TABLE decisions_unavailable RENAME TO decisions"))


def _blob(gw: Gateway, document: str) -> Path:
    sha = gw.container.resolver._snapshot.documents[document].sha256
    store = gw.container.store
    return store.backend._path(store.blob_key(document, sha))


@pytest.mark.parametrize("damage", ["flip-ciphertext", "flip-tag", "truncate", "append", "swap"])
def test_tampered_content_is_refused_and_nothing_leaks(gw: Gateway, damage: str) -> None:
    secret = b"TOP-SECRET-PAYLOAD " * 5000
    assert _upload(gw, "TAMPER", secret).status_code == 201
    assert _read(gw, "TAMPER").status_code == 200
    path = _blob(gw, "TAMPER")
    data = bytearray(path.read_bytes())
    if damage == "flip-ciphertext":
        data[200] ^= 0x01
    elif damage == "flip-tag":
        data[-1] ^= 0x80
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "append":
        data += b"\x00" * 20
    else:
        data = bytearray(_blob(gw, "D-ESI").read_bytes())  # a valid file, of another document
    path.write_bytes(bytes(data))
    rows = _rows(gw)
    response = _read(gw, "TAMPER")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert b"TOP-SECRET" not in response.content
    assert response.json()["decision_id"]
    assert _rows(gw) == rows + 1  # the decision that preceded the failed release is in the log


def test_every_concurrent_request_is_logged(gw: Gateway) -> None:
    app = gw.client.app
    people = ["P-OK", "P-NOROSTER", "P-GHOST", "P-SDS"]

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            calls = [
                client.get("/v1/documents/D-ESI/content", headers=gw.keys.auth("documents:read", sub=people[i % 4]))
                for i in range(60)
            ]
            calls += [
                client.post(
                    "/access/v1/evaluation",
                    headers=gw.keys.auth("authz:evaluate"),
                    json={
                        "subject": {"type": "person", "id": people[i % 4]},
                        "resource": {"type": "document", "id": "D-ESI"},
                        "action": {"name": "read"},
                    },
                )
                for i in range(60)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    before = _rows(gw)
    statuses = asyncio.run(burst())
    assert sorted(set(statuses)) == [200, 403]
    assert _rows(gw) - before == len(statuses) == 120
