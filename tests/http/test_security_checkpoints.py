"""Issue 12, finding 3 (R2): deleting checkpoint rows no longer switches checkpoint verification off.

The attacker owns the database: they switch the append-only guards off, rewrite the decision chain
consistently (every later hash and the head recomputed) and delete the checkpoints that would betray
them, or even re-sign new ones with a stolen checkpoint key. Verification requires a checkpoint at
every interval, and checks the log against the checkpoints an auditor kept outside the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.audit.chain import sign_checkpoint
from gateway.cli import app as cli
from models import DecisionRecord
from tests.audit.tampering import rewrite_consistently, tamper
from tests.support import Gateway, Keys, fresh_database, running_gateway

EVERY = 4


@pytest.fixture
def logged(backend: str, tmp_path: Path, keys: Keys) -> Iterator[Gateway]:
    """Ten decisions, a checkpoint signed at entries 4 and 8."""
    with fresh_database(backend, tmp_path) as url, running_gateway(url, tmp_path, keys,
                                                                   checkpoint_every=EVERY) as gw:
        gw.import_bundle({"organs": [{"id": "METI", "name": "METI"}]})
        for person in [f"P-{i}" for i in range(10)]:
            gw.evaluate(person, "D-1")
        yield gw


def _verify(gw: Gateway) -> dict[str, Any]:
    response = gw.client.get("/v1/audit/verify", headers=gw.keys.auth("audit:read"))
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_finding_3_a_consistent_rewrite_with_the_checkpoints_deleted_is_caught(logged: Gateway) -> None:
    assert _verify(logged)["ok"] is True
    rewrite_consistently(logged.container.engine, "DELETE FROM checkpoints")
    report = _verify(logged)
    assert report["ok"] is False
    assert report["first_bad"]["chain"] == "decisions" and report["first_bad"]["index"] == EVERY
    assert "checkpoints were removed" in report["first_bad"]["problem"]


def test_finding_3_deleting_one_checkpoint_is_caught(logged: Gateway) -> None:
    tamper(logged.container.engine, f"DELETE FROM checkpoints WHERE chain_index = {2 * EVERY}")
    report = _verify(logged)
    assert report["ok"] is False and report["first_bad"]["index"] == 2 * EVERY


def test_finding_3_checkpoints_kept_outside_catch_a_rewrite_resigned_with_a_stolen_key(
    logged: Gateway, tmp_path: Path
) -> None:
    engine = logged.container.engine
    env = {"GATEWAY_DATABASE_URL": logged.settings.database_url,
           "GATEWAY_DOCUMENT_DIR": str(logged.settings.document_dir), "GATEWAY_CHECKPOINT_EVERY": str(EVERY)}
    kept = tmp_path / "auditor" / "checkpoints.json"
    kept.parent.mkdir()
    runner = CliRunner()
    exported = runner.invoke(cli, ["audit", "checkpoint", "--export", str(kept)], env=env)
    assert exported.exit_code == 0, exported.output
    assert "signed checkpoints in" in exported.output
    assert runner.invoke(cli, ["audit", "verify", "--against", str(kept)], env=env).exit_code == 0

    rewrite_consistently(engine, "DELETE FROM checkpoints")
    with engine.begin() as conn:  # the attacker holds the checkpoint key too, and signs the rewritten chain
        hashes = dict(conn.execute(select(DecisionRecord.chain_index, DecisionRecord.hash)).all())
        for index in (EVERY, 2 * EVERY):
            sign_checkpoint(conn, "decisions", index, hashes[index], logged.container.signer)
    alone = runner.invoke(cli, ["audit", "verify"], env=env)
    assert alone.exit_code == 0, alone.output  # the database agrees with itself ...
    against = runner.invoke(cli, ["audit", "verify", "--against", str(kept)], env=env)
    assert against.exit_code == 1, against.output  # ... but not with what the auditor kept
    assert "BROKEN decisions log, entry 4: the log no longer matches a signed checkpoint" in against.output


def test_finding_3_a_file_that_is_not_one_of_checkpoints_is_refused(logged: Gateway, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"checkpoints": []}')
    env = {"GATEWAY_DATABASE_URL": logged.settings.database_url}
    result = CliRunner().invoke(cli, ["audit", "verify", "--against", str(bogus)], env=env)
    assert result.exit_code == 2 and "not a file of checkpoints" in " ".join(result.output.split())
