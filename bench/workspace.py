"""A throw-away directory holding everything one gateway needs: database, documents, keys, bundle."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from bench.identity import AUDIENCE, ISSUER, Identity
from gateway.registry.loading import load_snapshot
from gateway.registry.snapshot import RegistrySnapshot
from models import (
    Assessment,
    Certification,
    Contract,
    ContractDesignation,
    Designation,
    Document,
    Operator,
    Organ,
    Person,
    RosterEntry,
)
from models.bundle import Bundle, DocumentIn

REPO = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO / "policy"
STATIC_DIR_VARIABLE = "BENCH_STATIC_DIR"  # read by bench/gateway_asgi.py
STATIC_PREFIX = "/bench-static"


# The bundle's lists in the order their rows may be inserted (references first).
_BULK_TABLES = {name: model.__table__ for name, model in {  # type: ignore[attr-defined]
    "organs": Organ, "operators": Operator, "persons": Person, "designations": Designation,
    "assessments": Assessment, "certifications": Certification, "contracts": Contract, "rosters": RosterEntry,
    "documents": Document}.items()}


def _row(entry: Any, columns: set[str]) -> dict[str, Any]:
    row = {k: v for k, v in entry.model_dump().items() if k in columns}
    if isinstance(entry, DocumentIn):  # the stored content's size and digest; the content itself is not stored
        content = base64.b64decode(entry.content_base64 or "")
        row |= {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    return row


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

    def bulk_load(self, bundle: dict[str, Any]) -> float:
        """Write the bundle straight into the gateway's tables; the seconds it took.

        For registries too large for `registry import`, whose reference checks grow with the product of
        the bundle's sizes: the schema from `clearance-gateway db init`, the bundle's shapes checked by
        its pydantic model (models.bundle.Bundle), then one transaction of INSERTs into the same tables.
        No semantic validation, change events, ledger entries or document contents (decisions need
        none); the gateway's snapshot is read from these tables exactly as after an import."""
        started = time.perf_counter()
        self._cli("init.log", "db", "init")
        entries = Bundle.model_validate(bundle)
        engine = create_engine(f"sqlite:///{self.db_path}")
        try:
            with engine.begin() as conn:
                for name, table in _BULK_TABLES.items():
                    columns = set(table.c.keys())
                    rows = [_row(e, columns) for e in getattr(entries, name)]
                    if rows:
                        conn.execute(insert(table), rows)
                links = [{"contract_id": k.id, "designation_id": d} for k in entries.contracts
                         for d in k.designation_ids]
                if links:
                    conn.execute(insert(ContractDesignation.__table__), links)  # type: ignore[attr-defined]
        finally:
            engine.dispose()
        return time.perf_counter() - started

    def _cli(self, log_name: str, *args: str) -> None:
        log = self.root / log_name
        argv = [sys.executable, "-m", "gateway.cli", *args]
        with log.open("wb") as out:
            done = subprocess.run(argv, env=self.gateway_env(), cwd=self.root, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600, check=False)
        if done.returncode != 0:
            output = log.read_text(errors="replace")[-3000:]
            raise ImportFailed(f"`clearance-gateway {' '.join(args)}` failed ({done.returncode}):\n{output}")

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
