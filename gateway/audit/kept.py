"""Signed checkpoints kept outside the database (R2): an auditor's own copy.

A checkpoint signs a chain's head; kept where the operator cannot write, it proves that the log up to
it is the one that was written even if the database, checkpoints and all, was rewritten later.
`audit checkpoint --export FILE` signs both heads and writes every signed checkpoint to FILE (adding
to what FILE held); `audit verify --against FILE` checks the log against each of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from gateway.audit.chain import plain
from models import Checkpoint

_CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]
FIELDS = ("chain", "chain_index", "hash", "signed_at", "key_id", "signature")
FORMAT = "clearance-gateway checkpoints v1"


def _portable(row: Any) -> dict[str, Any]:
    return {name: plain(row[name]) for name in FIELDS}


def load(path: Path) -> list[dict[str, Any]]:
    """The checkpoints of a file written by `export`; ValueError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("checkpoints"), list):
        raise ValueError(f"{path} is not a file of checkpoints written by `audit checkpoint --export`")
    checkpoints = data["checkpoints"]
    for item in checkpoints:
        if not isinstance(item, dict) or set(item) != set(FIELDS) or not isinstance(item["chain_index"], int):
            raise ValueError(f"{path} holds an entry that is not a checkpoint: {str(item)[:80]}")
    return checkpoints


def export(engine: Engine, path: Path) -> int:
    """Write every signed checkpoint in the database to `path`, keeping those it held already."""
    with engine.connect() as conn:
        rows = conn.execute(select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.seq)).mappings().all()
    merged = {tuple(c.values()): c for c in (load(path) if path.exists() else [])}
    for row in rows:
        portable = _portable(row)
        merged.setdefault(tuple(portable.values()), portable)
    checkpoints = sorted(merged.values(), key=lambda c: (c["chain"], c["chain_index"], c["signed_at"]))
    staging = path.with_name(path.name + ".partial")
    staging.write_text(json.dumps({"format": FORMAT, "checkpoints": checkpoints}, indent=1), encoding="utf-8")
    staging.replace(path)
    return len(checkpoints)
