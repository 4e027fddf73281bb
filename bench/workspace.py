"""A throw-away directory holding everything one gateway needs: database, documents, keys, bundle."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bench.identity import AUDIENCE, ISSUER, Identity
from gateway.registry.snapshot import RegistrySnapshot, load_snapshot

REPO = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO / "policy"
STATIC_DIR_VARIABLE = "BENCH_STATIC_DIR"  # read by bench/gateway_asgi.py
STATIC_PREFIX = "/bench-static"


class ImportFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Workspace:
    root: Path
    identity: Identity
    master_key: str

    @classmethod
    def create(cls, root: Path) -> Workspace:
        return cls(root, Identity(root / "jwks.json"), base64.b64encode(os.urandom(32)).decode())

    @property
    def db_path(self) -> Path:
        return self.root / "gateway.db"

    @property
    def bundle_path(self) -> Path:
        return self.root / "bundle.json"

    @property
    def static_dir(self) -> Path:
        """What bench/gateway_asgi.py serves at /bench-static."""
        return self.root / "static"

    def gateway_env(self) -> dict[str, str]:
        """The environment of every gateway process: inherited GATEWAY_* settings never leak in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        return env | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            STATIC_DIR_VARIABLE: str(self.static_dir),
            "GATEWAY_DATABASE_URL": f"sqlite:///{self.db_path}",
            "GATEWAY_POLICY_DIR": str(POLICY_DIR),
            "GATEWAY_DOCUMENT_DIR": str(self.root / "documents"),
            "GATEWAY_MASTER_KEY": self.master_key,
            "GATEWAY_JWKS_FILE": str(self.identity.jwks_file),
            "GATEWAY_JWT_ISSUER": ISSUER,
            "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        }

    def floor_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        return env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}

    def import_bundle(self, bundle: dict[str, Any]) -> float:
        """Write the bundle and load it with `clearance-gateway registry import`; the seconds it took."""
        self.bundle_path.write_text(json.dumps(bundle))
        log = self.root / "import.log"
        started = time.perf_counter()
        argv = [sys.executable, "-m", "gateway.cli", "registry", "import", str(self.bundle_path),
                "--actor", "bench"]
        with log.open("wb") as out:
            done = subprocess.run(argv, env=self.gateway_env(), cwd=self.root, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600,
                                  check=False)
        if done.returncode != 0:
            output = log.read_text(errors="replace")[-3000:]
            raise ImportFailed(f"`clearance-gateway registry import` failed ({done.returncode}):\n{output}")
        return time.perf_counter() - started

    def snapshot(self) -> RegistrySnapshot:
        """The registry as the gateway's resolver reads it, from the same database."""
        engine = create_engine(f"sqlite:///{self.db_path}")
        try:
            with engine.connect() as conn:
                return load_snapshot(conn)
        finally:
            engine.dispose()

    def decision_rows(self, channel: str | None = None) -> int:
        """Rows in the decision log; only those of one channel (`authzen`, `release`) if given."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            if channel is None:
                return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])
            query = "SELECT count(*) FROM decisions WHERE channel = ?"
            return int(conn.execute(query, (channel,)).fetchone()[0])
