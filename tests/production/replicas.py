"""Real gateway replicas: `clearance-gateway serve` processes on 127.0.0.1, always stopped afterwards.

Each replica runs in a session (process group) of its own, writes its output to a file, and is only
handed out once GET /readyz answers 200. A `Fleet` stops every replica it started when its block
ends, whatever happened, and prints the tail of each replica's output (pytest shows it on failure).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.demo import demo_bundle
from tests.support import AUDIENCE, ISSUER, POLICY_DIR, REPO, Keys, free_port

HOST = "127.0.0.1"
EXECUTABLE = REPO / ".venv" / "bin" / "clearance-gateway"
START_TIMEOUT = 90.0  # two replicas importing FastAPI and Casbin at once on 2 busy cores
BIG_DOCUMENT = "DOC-BIG"  # uploaded beside the demo documents: a release that streams several chunks


class ReplicaFailed(RuntimeError):
    pass


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@dataclass
class Deployment:
    """What the replicas of one deployment share: database, keys, document folder."""

    database_url: str
    directory: Path
    keys: Keys
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        checkpoint_key = self.directory / "checkpoint-key.pem"
        checkpoint_key.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.env = {
            **inherited,
            "GATEWAY_DATABASE_URL": self.database_url,
            "GATEWAY_JWKS_FILE": str(self.keys.jwks_file),
            "GATEWAY_JWT_ISSUER": ISSUER,
            "GATEWAY_JWT_AUDIENCE": AUDIENCE,
            "GATEWAY_DOCUMENT_DIR": str(self.directory / "documents"),
            "GATEWAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "GATEWAY_CHECKPOINT_KEY_FILE": str(checkpoint_key),
            "GATEWAY_PUBLIC_URL": "https://pdp.example.go.jp",  # TLS ends at the proxy in front, as in production
            "GATEWAY_POLICY_DIR": str(POLICY_DIR),
            "GATEWAY_DB_POOL_SIZE": "5",
            "GATEWAY_LOG_LEVEL": "WARNING",  # errors still show; no access line per request on 2 cores
            "GATEWAY_AUTO_MIGRATE": "false",  # as in production: the schema job migrates, replicas only check
            **self.env,
        }

    def init_schema(self) -> None:
        """What the compose file's schema job does before the replicas start."""
        done = subprocess.run(
            [str(EXECUTABLE), "db", "upgrade"],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"db upgrade failed:\n{done.stdout}\n{done.stderr}"


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, no goodbye: the process group at once, as the OOM killer or a power cut would."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, grace: float = 15.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False


class Fleet:
    """Replicas of one deployment; every one is stopped when the block ends."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.replicas: list[Replica] = []

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for replica in self.replicas:
            replica.stop()
        for replica in self.replicas:
            print(f"\n----- {replica.name} (port {replica.port}, exit {replica.process.returncode}): output tail")
            print(tail(replica.log_path))

    def start(self, *names: str) -> list[Replica]:
        """Start the named replicas together and wait until every one is ready."""
        started = [self._spawn(name) for name in names]
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(started)
        while waiting:
            for replica in list(waiting):
                if not replica.alive():
                    raise ReplicaFailed(f"{replica.name} exited while starting:\n{tail(replica.log_path)}")
                if replica.ready():
                    waiting.remove(replica)
            if waiting and time.monotonic() > deadline:
                late = waiting[0]
                raise ReplicaFailed(f"{late.name} not ready in {START_TIMEOUT:.0f} s:\n{tail(late.log_path)}")
            time.sleep(0.2)
        return started

    def _spawn(self, name: str) -> Replica:
        port = free_port()
        log_path = self.deployment.directory / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(EXECUTABLE), "serve", "--host", HOST, "--port", str(port)],
                env=self.deployment.env,
                cwd=self.deployment.directory,  # no stray .env from the checkout
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches it and nothing else
            )
        replica = Replica(name, port, process, log_path)
        self.replicas.append(replica)
        return replica


class Admin:
    """The administrators' and auditors' side, over HTTP."""

    def __init__(self, url: str, keys: Keys):
        self.client = httpx.Client(base_url=url, timeout=120)
        self.keys = keys

    def close(self) -> None:
        self.client.close()

    def load_registry(self, big_document: bytes) -> None:
        """The demo registry (an allow and every kind of deny, dated from today in Japan), and a
        larger document uploaded the way an administrator does."""
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()
        imported = self.client.post(
            "/v1/admin/registry/import", json=demo_bundle(today), headers=self.keys.auth("registry:admin")
        )
        assert imported.status_code == 200, imported.text
        uploaded = self.client.post(
            "/v1/admin/documents",
            data={"id": BIG_DOCUMENT, "title": "Large supplier file", "media_type": "application/octet-stream",
                  "designation_id": "G-0001"},
            files={"file": ("big.bin", big_document)},
            headers=self.keys.auth("registry:admin"),
        )
        assert uploaded.status_code == 201, uploaded.text

    def verify(self) -> dict[str, Any]:
        answer = self.client.get("/v1/audit/verify", headers=self.keys.auth("audit:read"))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


@contextmanager
def deployed(database_url: str, directory: Path, keys: Keys, big_document: bytes,
             *names: str) -> Iterator[tuple[Fleet, Admin]]:
    """A schema, the named replicas on it, and the registry loaded through the first one."""
    deployment = Deployment(database_url, directory, keys)
    deployment.init_schema()
    with Fleet(deployment) as fleet:
        fleet.start(*names)
        admin = Admin(fleet.replicas[0].url, keys)
        try:
            admin.load_registry(big_document)
            yield fleet, admin
        finally:
            admin.close()
