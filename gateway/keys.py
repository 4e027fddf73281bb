"""The keys a gateway runs on: the checkpoint signing key of the logs, the documents' master key and
the development token issuer's key. Each is configured, or, on a development machine, made once and
kept beside the documents with a warning in the log (production refuses to start on keys it made
itself: gateway/dev_mode.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.chain import Signer
from gateway.settings import Settings
from gateway.store import MasterKey

log = structlog.get_logger("gateway.keys")


def dev_issuer_path(settings: Settings) -> Path:
    return settings.document_dir.parent / "dev-signing-key.pem"


def checkpoint_signer(settings: Settings) -> Signer:
    """The checkpoint key: configured, or a development key kept beside the documents."""
    path = settings.checkpoint_key_file
    if path is None:
        path = settings.document_dir.parent / "dev-checkpoint-key.pem"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
            except FileExistsError:
                pass  # another worker made it first
            log.warning(
                "audit.development_checkpoint_key",
                path=str(path),
                detail="GATEWAY_CHECKPOINT_KEY_FILE is not set: checkpoints are signed by a development key",
            )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(key, hashlib.sha256(public).hexdigest()[:16], settings.checkpoint_every)


def master_key(settings: Settings) -> MasterKey:
    """The key that wraps every document's key: configured, or a development key kept beside them."""
    if settings.master_key:
        return MasterKey.from_base64(settings.master_key.get_secret_value())
    if settings.master_key_file:
        return MasterKey.from_base64(settings.master_key_file.read_text())
    path = settings.document_dir.parent / "dev-master.key"
    key, created = MasterKey.load_or_create(path)
    log.warning(
        "store.development_master_key",
        path=str(path),
        created=created,
        detail="GATEWAY_MASTER_KEY(_FILE) is not set: documents are encrypted with a development key "
        "kept beside them. Set a real master key before storing real documents.",
    )
    return key
