"""Encrypted document store: envelope encryption (AES-256-GCM) over a small blob backend."""

from gateway.store.envelope import DocumentStore, IntegrityError, MasterKey, StoredContent, verified
from gateway.store.filesystem import FilesystemBackend

__all__ = ["DocumentStore", "FilesystemBackend", "IntegrityError", "MasterKey", "StoredContent", "verified"]
