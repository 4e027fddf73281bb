"""Test support: databases on both backends, signing keys, a settable clock, a gateway under test."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from gateway.app import create_app
from gateway.settings import Settings
from tests.pg_pool import Pool

REPO = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO / "policy"
PG_ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ISSUER, AUDIENCE = "https://idp.test", "clearance-gateway-test"
IN_CI = os.environ.get("CI", "").lower() == "true"
PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int, *pointers: str | None, says: str = "") -> dict[str, Any]:
    """An RFC 9457 answer as a client reads it: `status`, the problem media type, a type URL, a title
    and a detail, no traceback; its `errors` name each of `pointers` (None: none asked); `says` is in
    the detail of an error at the last pointer, or in the problem's detail when no pointer is named."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body["type"].startswith("https://"), body
    for key in ("title", "detail"):
        assert isinstance(body[key], str) and body[key], body
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    named = [p for p in pointers if p is not None]
    if named:
        errors = {e["pointer"]: e["detail"] for e in body["errors"]}
        assert set(named) <= set(errors), body["errors"]
        matching = [e["detail"] for e in body["errors"] if e["pointer"] == named[-1]]
        assert any(says in detail for detail in matching), body
    else:
        assert says in body["detail"], body
    return body


def postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_TEMPLATES: dict[str, str] = {}  # backend -> a database at the schema's head, made once per test process


def _template(backend: str) -> str:
    """A database migrated to head, once per process: a SQLite file, or a PostgreSQL database that new
    databases are created from (CREATE DATABASE ... TEMPLATE), dropped when the process ends."""
    known = _TEMPLATES.get(backend)
    if known is not None:
        return known
    from gateway.db import ensure_schema

    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="cg-template-")) / "head.db"
        url = f"sqlite:///{path}"
        name = str(path)
    else:
        name = f"cg_template_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        atexit.register(_drop, name)
    engine = create_engine(url)
    try:
        ensure_schema(engine, auto_migrate=True)
    finally:
        engine.dispose()
    _TEMPLATES[backend] = name
    return name


def _drop(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(backend: str, directory: Path, *, migrated: bool = False) -> Iterator[str]:
    """A new database on `backend`, dropped afterwards: empty, or (`migrated`) at the schema's head,
    copied from a template migrated once per process (what a gateway would make of an empty one, in
    milliseconds instead of a migration run per test). A migrated PostgreSQL database is reset to the
    template's state and used again by the process's next test when nothing but its rows changed."""
    if backend == "sqlite":
        path = directory / f"gw-{uuid.uuid4().hex[:8]}.db"
        if migrated:
            shutil.copyfile(_template("sqlite"), path)
        yield f"sqlite:///{path}"
        return
    if not postgres_reachable():
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; under CI=true its tests must run")
        pytest.skip("PostgreSQL is not reachable (set CI=true to make this a failure)")
    pool = _pool() if migrated else None
    name = pool.take() if pool is not None else None
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    if name is None:
        name = f"cg_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{_template("postgresql")}"' if migrated else ""
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if pool is None or not pool.give_back(name):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_POOL: list[Pool] = []


def _pool() -> Pool:
    """This process's migrated PostgreSQL databases, reset after each test and used again (pg_pool.py)."""
    if not _POOL:
        _POOL.append(Pool(PG_ADMIN_URL, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{_template('postgresql')}"))
    return _POOL[0]


@dataclass
class Keys:
    """The test identity provider: signs tokens the gateway under test accepts."""

    jwks_file: Path
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid: str = "test-key-1"

    def __post_init__(self) -> None:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        public |= {"kid": self.kid, "use": "sig", "alg": "ES256"}
        self.jwks_file.write_text(json.dumps({"keys": [public]}))

    def token(
        self,
        *scopes: str,
        sub: str = "pep-1",
        lifetime: int = 600,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + lifetime,
            "client_id": "test-client",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private_key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})

    def auth(self, *scopes: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*scopes, **kwargs)}"}


class Clock:
    """The gateway's clock, settable by tests."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 6, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso)


@dataclass
class Gateway:
    """A gateway under test, reached through its real ASGI app."""

    client: TestClient
    keys: Keys
    clock: Clock
    settings: Settings

    @property
    def container(self):  # type: ignore[no-untyped-def]
        return self.client.app.state.container  # type: ignore[attr-defined]

    def import_bundle(self, bundle: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/v1/admin/registry/import", json=bundle, headers=self.keys.auth("registry:admin"))
        assert response.status_code == 200, response.text
        return response.json()

    def evaluate(self, person: str, document: str, action: str = "read", at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": {"type": "person", "id": person},
            "resource": {"type": "document", "id": document},
            "action": {"name": action},
        }
        scopes = ["authz:evaluate"]
        if at is not None:
            body["context"] = {"time": at}
            scopes.append("authz:simulate")
        response = self.client.post("/access/v1/evaluation", json=body, headers=self.keys.auth(*scopes))
        assert response.status_code == 200, response.text
        return response.json()

    def codes(self, person: str, document: str, action: str = "read", at: str | None = None) -> list[str]:
        answer = self.evaluate(person, document, action, at)
        codes = [r["code"] for r in answer["context"]["reasons"]]
        assert answer["decision"] is (not codes), answer
        return codes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(directory: Path, keys: Keys, **overrides: str) -> dict[str, str]:
    """The environment of a `clearance-gateway serve` under test: this process's, without its own
    GATEWAY_ and PROMETHEUS_ settings, plus a SQLite database and documents in `directory`, the test
    identity provider, the shipped policy, a fixed master key and a development checkpoint key
    (GATEWAY_DEV_MODE, asked for); `overrides` replace any of these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    return env | {
        "GATEWAY_DATABASE_URL": f"sqlite:///{directory / 'gw.db'}",
        "GATEWAY_JWKS_FILE": str(keys.jwks_file),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_POLICY_DIR": str(POLICY_DIR),
        "GATEWAY_DOCUMENT_DIR": str(directory / "documents"),
        "GATEWAY_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DEV_MODE": "true",
    } | overrides


def wait_until_ready(base: str, server: subprocess.Popen[Any], log: Path | None = None, **httpx_options: Any) -> None:
    """Wait (90 s at most) for a `serve` process to answer GET /readyz with 200; fail, with its log, if it
    exits or takes longer."""
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2, **httpx_options).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text() if log else "serve stopped"
        time.sleep(0.2)


@contextmanager
def running_gateway(
    db_url: str,
    directory: Path,
    keys: Keys,
    clock: Clock | None = None,
    policy_dir: Path = POLICY_DIR,
    **overrides: Any,
) -> Iterator[Gateway]:
    clock = clock or Clock()
    settings = Settings(
        database_url=db_url,
        policy_dir=policy_dir,
        document_dir=directory / "documents",
        jwks_file=keys.jwks_file,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        master_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        db_pool_size=5,
        **overrides,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Gateway(client, keys, clock, settings)


def carried_over(bundle: dict[str, Any]) -> dict[str, Any]:
    """A fixture that tests other rules with ESI records dated before the ESI Act (2025-05-16) marks
    them as carried over (`"transitional": true`), as an organ migrating older records would."""
    from datetime import date

    from gateway.registry.validation import ESI_ACT_IN_FORCE

    for section, day in (("assessments", "notified_on"), ("designations", "designated_on")):
        for entry in bundle.get(section, []):
            if entry.get("scheme") == "esi" and date.fromisoformat(entry[day]) < ESI_ACT_IN_FORCE:
                entry["transitional"] = True
    return bundle


def cli_registry(directory: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> str:
    """A SQLite registry loaded with the rules bundle through `registry import`, as the CLI's
    environment names it (rich wraps at `columns`); its URL."""
    from typer.testing import CliRunner

    from gateway.cli import app
    from tests.rules_registry import rules_bundle

    url = f"sqlite:///{directory / 'registry.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    monkeypatch.setenv("GATEWAY_DOCUMENT_DIR", str(directory / "documents"))
    monkeypatch.setenv("COLUMNS", str(columns))
    bundle = directory / "bundle.json"
    bundle.write_text(json.dumps(rules_bundle()))
    result = CliRunner().invoke(app, ["registry", "import", str(bundle)], prog_name="clearance-gateway")
    assert result.exit_code == 0, result.output
    return url
