"""R2: verification of the hash-chained logs and their signed checkpoints."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from gateway.api.deps import ContainerDep, scoped
from gateway.audit.chain import verify
from gateway.auth import Caller

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify", summary="Check every entry of the decision and change logs, and the signed checkpoints")
async def verify_logs(container: ContainerDep, caller: Caller = scoped("audit:read")) -> dict[str, Any]:
    public = container.signer.public_key if container.signer else None
    every = container.signer.every if container.signer else container.settings.checkpoint_every
    report = await run_in_threadpool(lambda: verify(container.engine, public, every=every))
    return report.as_dict()


@router.get("/checkpoint-key", summary="The public key that verifies checkpoints (Ed25519, raw, base64)")
async def checkpoint_key(container: ContainerDep, caller: Caller = scoped("audit:read")) -> dict[str, Any]:
    assert container.signer is not None
    raw = container.signer.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "key_id": container.signer.key_id,
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(raw).decode(),
        "every": container.signer.every,
    }
