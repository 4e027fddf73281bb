"""R2: the logs are append-only and tamper-evident; verify names the first bad entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.audit.chain import verify
from models import DecisionRecord
from tests.audit.tampering import rewrite_consistently, tamper
from tests.rules_registry import rules_bundle
from tests.support import Gateway, Keys, fresh_database, running_gateway

AT = "2026-06-01T12:00:00+09:00"


@pytest.fixture
def logged(backend: str, tmp_path: Path, keys: Keys) -> Iterator[Gateway]:
    """A gateway with 10 decisions and a few change events, checkpointing every 4 decisions."""
    with fresh_database(backend, tmp_path) as url, running_gateway(url, tmp_path, keys, checkpoint_every=4) as gw:
        gw.import_bundle(rules_bundle())
        gw.import_bundle({"organs": [{"id": "NPA", "name": "National Police Agency"}]})
        for person in ["P-OK", "P-SDS", "P-NOROSTER", "C-OK", "C-BETA", "P-MOD", "P-OK", "P-SUSP", "P-REV", "P-OK"]:
            gw.evaluate(person, "D-ESI", at=AT)
        yield gw


def _verify(gw: Gateway) -> dict:  # type: ignore[type-arg]
    response = gw.client.get("/v1/audit/verify", headers=gw.keys.auth("audit:read"))
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_an_untouched_log_verifies(logged: Gateway) -> None:
    report = _verify(logged)
    assert report["ok"] is True
    assert report["chains"]["decisions"]["checked"] == 10
    assert report["chains"]["changes"]["checked"] > 100  # every imported entry is a change event
    assert report["checked"] == report["chains"]["decisions"]["checked"] + report["chains"]["changes"]["checked"]
    assert report["chains"]["decisions"]["checkpoints"] == 2  # after entries 4 and 8
    assert "first_bad" not in report


def test_the_log_refuses_update_and_delete(logged: Gateway) -> None:
    for statement in ("UPDATE decisions SET allowed = true", "DELETE FROM decisions", "DELETE FROM change_events"):
        with pytest.raises(DBAPIError, match="append-only"), logged.container.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert _verify(logged)["ok"] is True


TAMPERING = [
    ("UPDATE decisions SET allowed = NOT allowed WHERE chain_index = 3", "decisions", 3, "content altered"),
    ("UPDATE decisions SET reason_codes = '' WHERE chain_index = 5", "decisions", 5, "content altered"),
    ("DELETE FROM decisions WHERE chain_index = 2", "decisions", 2, "missing"),
    ("DELETE FROM decisions WHERE chain_index >= 9", "decisions", 9, "removed from the end"),
    ("UPDATE decisions SET chain_index = chain_index + 100 WHERE chain_index = 6", "decisions", 6, "missing"),
    ("UPDATE change_events SET after = NULL WHERE chain_index = 7", "changes", 7, "content altered"),
    ("DELETE FROM change_events WHERE chain_index = 1", "changes", 1, "missing"),
]


@pytest.mark.parametrize(("statement", "chain", "index", "says"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_found_at_the_first_bad_entry(logged: Gateway, statement: str, chain: str, index: int,
                                                   says: str) -> None:
    tamper(logged.container.engine, statement)
    report = _verify(logged)
    assert report["ok"] is False
    assert report["first_bad"]["chain"] == chain
    assert report["first_bad"]["index"] == index
    assert says in report["first_bad"]["problem"]


def test_reordering_two_entries_is_found(logged: Gateway) -> None:
    engine = logged.container.engine
    with engine.connect() as conn:
        rows = {r.chain_index: r for r in conn.execute(select(DecisionRecord.__table__))}
    # swap whole entries 4 and 5, hashes and all: each still hashes right, but the links break
    tamper(engine, "UPDATE decisions SET chain_index = -4 WHERE chain_index = 4",
           "UPDATE decisions SET chain_index = 4 WHERE chain_index = 5",
           "UPDATE decisions SET chain_index = 5 WHERE chain_index = -4")
    assert rows[4].decision_id != rows[5].decision_id
    report = _verify(logged)
    assert report["ok"] is False
    assert report["first_bad"]["index"] == 4


def test_a_consistent_rewrite_is_caught_by_a_signed_checkpoint(logged: Gateway) -> None:
    """An attacker rewrites entry 2 and recomputes every later hash and the head: only the checkpoint knows."""
    engine = logged.container.engine
    rewrite_consistently(engine)
    report = verify(engine, logged.container.signer.public_key).as_dict()
    assert report["ok"] is False
    assert report["first_bad"]["index"] == 4
    assert "signed checkpoint" in report["first_bad"]["problem"]
    # and the same rewrite with no checkpoint key to check against goes unnoticed: the keys matter
    assert verify(engine, None).as_dict()["first_bad"]["problem"].startswith("the log no longer matches")


def test_a_forged_checkpoint_signature_is_found(logged: Gateway) -> None:
    tamper(logged.container.engine, "UPDATE checkpoints SET signature = 'AAAA' WHERE chain_index = 4")
    report = _verify(logged)
    assert report["first_bad"]["problem"] == "a checkpoint's signature does not verify"


def test_only_auditors_verify(logged: Gateway) -> None:
    for scope in ("registry:admin", "policy:admin", "authz:evaluate"):
        assert logged.client.get("/v1/audit/verify", headers=logged.keys.auth(scope)).status_code == 403
    key = logged.client.get("/v1/audit/checkpoint-key", headers=logged.keys.auth("audit:read")).json()
    assert key["algorithm"] == "Ed25519" and key["every"] == 4


def test_concurrent_writers_keep_one_unbroken_chain(logged: Gateway) -> None:
    import asyncio

    import httpx

    async def burst() -> None:
        transport = httpx.ASGITransport(app=logged.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            await asyncio.gather(*[client.post("/access/v1/evaluation", headers=logged.keys.auth("authz:evaluate"),
                                               json={"subject": {"type": "person", "id": "P-OK"},
                                                     "resource": {"type": "document", "id": "D-ESI"},
                                                     "action": {"name": "read"}}) for _ in range(40)])

    asyncio.run(burst())
    report = _verify(logged)
    assert report["ok"] is True and report["chains"]["decisions"]["checked"] == 50
    with logged.container.engine.connect() as conn:
        indexes = sorted(conn.execute(text("SELECT chain_index FROM decisions")).scalars())
    assert indexes == list(range(1, 51))
