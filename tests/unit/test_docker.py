"""The container files, checked statically (no Docker engine runs here) and by running the commands
the image runs, outside a container."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import REPO

DOCKER = REPO / "docker"


def test_compose_runs_postgres_a_schema_job_two_replicas_and_a_proxy() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "schema", "gateway-1", "gateway-2", "proxy"} <= services.keys()
    for replica in ("gateway-1", "gateway-2"):
        service = services[replica]
        assert service["depends_on"]["schema"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert env["GATEWAY_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert str(env["GATEWAY_AUTO_MIGRATE"]).lower() == "false"  # only the schema job migrates
        for variable in ("GATEWAY_JWKS_FILE", "GATEWAY_MASTER_KEY_FILE", "GATEWAY_CHECKPOINT_KEY_FILE"):
            secret = env[variable].removeprefix("/run/secrets/")
            assert secret in compose["secrets"] and secret in service["secrets"]
    assert services["schema"]["command"] == ["db", "upgrade"]
    assert services["postgres"]["healthcheck"]["test"]
    nginx = (DOCKER / "nginx.conf").read_text()
    upstreams = re.findall(r"server (gateway-\d):8000", nginx)
    assert upstreams == ["gateway-1", "gateway-2"]
    # AuthZEN: TLS between PEP and PDP ends at the proxy, and the public URL names it
    assert re.search(r"^\s*listen 8443 ssl;", nginx, re.M) and "listen 8080" not in nginx
    assert "ssl_certificate /etc/nginx/tls/tls.crt;" in nginx
    mounts = {v.split(":")[1] for v in services["proxy"]["volumes"]}
    assert {"/etc/nginx/tls/tls.crt", "/etc/nginx/tls/tls.key"} <= mounts
    for replica in ("gateway-1", "gateway-2"):
        assert services[replica]["environment"]["GATEWAY_PUBLIC_URL"].endswith("https://localhost:8443}")


def test_the_image_is_slim_non_root_and_checks_its_health() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER gateway$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/readyz" in dockerfile
    for copied in re.findall(r"^COPY (?:--\S+ )*(\S+) ", dockerfile, re.M):
        if not copied.startswith("/"):
            assert (REPO / copied).exists(), f"the Dockerfile copies {copied}, which does not exist"


def test_the_image_commands_exist_and_start_outside_a_container(tmp_path: Path) -> None:
    """ENTRYPOINT clearance-gateway; CMD serve ...; the schema job runs `db upgrade`."""
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "GATEWAY_DOCUMENT_DIR": str(tmp_path / "docs"),
           "GATEWAY_POLICY_DIR": str(REPO / "policy"), "PATH": str(Path(sys.executable).parent)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    first, again = cli("db", "upgrade"), cli("db", "upgrade")
    assert first.returncode == 0 and "Schema ready" in first.stdout, first.stderr
    assert again.returncode == 0 and "nothing to run" in again.stdout, again.stderr
    serve = cli("serve", "--help")
    assert serve.returncode == 0 and "--host" in serve.stdout and "--port" in serve.stdout


def test_development_compose_needs_no_identity_provider_and_mounts_the_policy() -> None:
    """Issue 15: docker/ can be tried without keys: development keys kept in a volume, tokens printed."""
    compose = yaml.safe_load((DOCKER / "compose.dev.yaml").read_text())
    service = compose["services"]["gateway"]
    assert "--demo" in service["command"]
    # TLS ends at the gateway, on a development certificate the one-shot dev-certs service makes
    command = service["command"]
    assert command[command.index("--tls-cert") + 1] == "/srv/gateway/certs/tls.crt"
    assert service["depends_on"]["dev-certs"]["condition"] == "service_completed_successfully"
    assert "openssl req -x509" in " ".join(compose["services"]["dev-certs"]["command"])
    assert service["environment"]["GATEWAY_PUBLIC_URL"] == "https://localhost:8443"
    env = service["environment"]
    assert "GATEWAY_JWKS_FILE" not in env and "secrets" not in service
    mounts = dict(volume.split(":")[:2] for volume in service["volumes"])  # source: target[:ro]
    assert mounts["../policy"] == "/srv/gateway/policy"  # the image's GATEWAY_POLICY_DIR: edits reload
    data = mounts["dev-data"]
    assert env["GATEWAY_DOCUMENT_DIR"].startswith(data + "/")  # documents and development keys persist
    assert env["GATEWAY_DATABASE_URL"] == f"sqlite:///{data}/dev.db"
    assert "dev-data" in compose["volumes"]


def test_volumes_are_writable_by_the_image_user() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    before_user = dockerfile[: dockerfile.index("\nUSER gateway")]
    made = re.search(r"^RUN mkdir -p (.+?) && chown gateway:gateway (.+)$", before_user, re.M)
    assert made is not None
    for folder in ("/srv/gateway/documents", "/srv/gateway/data"):
        assert folder in made.group(1).split() and folder in made.group(2).split()


def test_secrets_readme_says_how_to_make_every_secret() -> None:
    readme = (DOCKER / "secrets" / "README.md").read_text()
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    for secret in compose["secrets"]:
        assert f"`{secret}`" in readme
    assert "`tls.crt`, `tls.key`" in readme
    assert "os.urandom(32)" in readme and "genpkey -algorithm ed25519" in readme and "uid 10001" in readme
