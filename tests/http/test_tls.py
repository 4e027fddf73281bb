"""AuthZEN 1.0 requires TLS between PEP and PDP: `serve` ends TLS itself (--tls-cert, --tls-key), and
the PDP identifier it publishes is the https URL it is reached at."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import POLICY_DIR, REPO, free_port, wait_until_ready


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as a development setup would make them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_serve_answers_over_https_and_names_its_https_url(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_DOCUMENT_DIR": str(tmp_path / "documents"),
        "GATEWAY_POLICY_DIR": str(POLICY_DIR),
        "GATEWAY_DEV_MODE": "true",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    argv = [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", str(port),
            "--tls-cert", str(cert), "--tls-key", str(key)]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server, tmp_path / "serve.log", verify=trusting(cert))
        metadata = httpx.get(base + "/.well-known/authzen-configuration", verify=trusting(cert), timeout=5).json()
        assert metadata["policy_decision_point"] == base
        assert metadata["access_evaluation_endpoint"] == f"{base}/access/v1/evaluation"
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets no answer
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).raise_for_status()
    finally:
        server.terminate()
        server.wait(30)


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {"GATEWAY_DEV_MODE": "true"}
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "clearance-gateway"), "serve", "--port", str(free_port()),
         "--tls-cert", str(cert)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "TLS needs a certificate and its key" in " ".join(done.stderr.split())
