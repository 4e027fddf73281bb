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
    upstreams = re.findall(r"server (gateway-\d):8000", (DOCKER / "nginx.conf").read_text())
    assert upstreams == ["gateway-1", "gateway-2"]


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
