"""Administrators read documents' records (API and CLI), upload from the CLI and declassify with null."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.support import POLICY_DIR, REPO, Gateway

EXAMPLE = REPO / "docs" / "examples" / "bundle.json"
runner = CliRunner()


def test_admin_reads_documents_records_never_their_content(gateway: Gateway) -> None:
    gateway.import_bundle(json.loads(EXAMPLE.read_text()))
    admin = gateway.keys.auth("registry:admin")
    page = gateway.client.get("/v1/admin/documents?limit=1", headers=admin)
    assert page.status_code == 200
    assert page.json()["total"] == 2 and [d["id"] for d in page.json()["items"]] == ["DOC-0001"]
    one = gateway.client.get("/v1/admin/documents/DOC-0002", headers=admin).json()
    assert one == {"id": "DOC-0002", "title": "Public briefing", "designation_id": None, "media_type": "text/plain",
                   "size": 16, "sha256": one["sha256"]}
    assert len(one["sha256"]) == 64 and "content_base64" not in one
    assert gateway.client.get("/v1/admin/documents/DOC-9", headers=admin).status_code == 404
    assert gateway.client.get("/v1/admin/documents", headers=gateway.keys.auth("audit:read")).status_code == 403


def test_cli_uploads_lists_shows_and_declassifies_with_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(tmp_path / "documents"))
    monkeypatch.setenv("COLUMNS", "120")

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["registry", *args], prog_name="clearance-gateway")
        assert result.exit_code == 0, result.output
        return result

    run("import", str(EXAMPLE))
    memo = tmp_path / "memo.txt"
    memo.write_text("supplier memo\n")
    uploaded = run("document", "upload", str(memo), "--id", "DOC-0003", "--title", "Memo", "--designation", "G-0001")
    assert "stored DOC-0003 (14 bytes, G-0001)" in uploaded.stdout
    assert "DOC-0003  G-0001  14 bytes  Memo" in run("document", "list").stdout
    shown = json.loads(run("document", "show", "DOC-0003", "--json").stdout)
    assert shown["media_type"] == "text/plain" and shown["designation_id"] == "G-0001"
    assert "DOC-0003 is now unclassified" in run("document", "classify", "DOC-0003", "null").stdout
    assert json.loads(run("document", "show", "DOC-0003", "--json").stdout)["designation_id"] is None
    refused = runner.invoke(app, ["registry", "document", "classify", "DOC-0003", "G-9"], prog_name="clearance-gateway")
    assert refused.exit_code == 1 and "unknown designation 'G-9'" in refused.stderr
