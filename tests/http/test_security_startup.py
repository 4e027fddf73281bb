"""Issue 12, finding 5: production never starts on development keys without a word."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gateway.dev_mode import DevelopmentKeysRefused, require_keys
from gateway.settings import Settings
from tests.support import REPO

KEYS = {
    "jwks_file": Path("jwks.json"),
    "master_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "checkpoint_key_file": Path("checkpoint.pem"),
}
PUBLIC = {"public_url": "https://pdp.example.go.jp"}


@pytest.mark.parametrize("absent", sorted(KEYS))
def test_finding_5_without_any_one_key_a_server_refuses_to_start(absent: str) -> None:
    settings = Settings(_env_file=None, **PUBLIC, **{k: v for k, v in KEYS.items() if k != absent})
    with pytest.raises(DevelopmentKeysRefused, match="GATEWAY_DEV_MODE=true"):
        require_keys(settings)


def test_finding_5_with_all_three_keys_it_starts_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    require_keys(Settings(_env_file=None, **KEYS, **PUBLIC))  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("public_url", "says"),
    [
        (None, "set GATEWAY_PUBLIC_URL to the https URL document systems reach this gateway at"),
        ("http://pdp.example.go.jp", "AuthZEN requires TLS between PEP and PDP, so it is an https URL"),
        ("http://0.0.0.0:8000", "AuthZEN requires TLS"),
    ],
)
def test_issue_16_production_needs_its_https_identifier(public_url: str | None, says: str) -> None:
    settings = Settings(_env_file=None, public_url=public_url, **KEYS)  # type: ignore[arg-type]
    with pytest.raises(DevelopmentKeysRefused) as refused:
        require_keys(settings)
    assert says in str(refused.value)


def test_finding_5_development_mode_always_says_so_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    require_keys(Settings(_env_file=None, dev_mode=True, log_level="ERROR"))
    said = capsys.readouterr().err
    assert "DEVELOPMENT MODE" in said
    assert "GATEWAY_JWKS_FILE" in said and "GATEWAY_CHECKPOINT_KEY_FILE" in said


def test_finding_5_serve_refuses_without_keys_and_prints_no_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_DOCUMENT_DIR": str(tmp_path / "documents"),
        "GATEWAY_POLICY_DIR": str(REPO / "policy"),
        "GATEWAY_LOG_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    said = " ".join(done.stderr.split())
    assert "will not start" in said and "GATEWAY_DEV_MODE=true" in said
    assert "eyJ" not in done.stdout + done.stderr  # no token of any kind
    assert not (tmp_path / "var").exists() and not list(tmp_path.glob("*.pem"))  # no key was made either
