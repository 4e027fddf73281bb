"""Envelope encryption of document contents.

Each document gets its own random 256-bit data key, wrapped (AES-256-GCM) by the master key. The
content is cut into chunks, each sealed with AES-256-GCM under the data key; a chunk's nonce and
associated data bind it to its document, its index and whether it is the last one, so chunks
cannot be reordered, dropped, truncated or moved to another document without failing the tag.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.store.filesystem import FilesystemBackend

MAGIC = b"CGDOC1\n"
CHUNK = 64 * 1024
_HEADER = struct.Struct(">H60s12s")  # wrapped-key length, wrapped key (padded), nonce prefix+pad
_RECORD = struct.Struct(">I")


class IntegrityError(Exception):
    """A stored document failed its authentication tag: it was altered, truncated or misplaced."""


@dataclass(frozen=True, slots=True)
class StoredContent:
    size: int
    sha256: str


class MasterKey:
    """The key-encryption key. From a file or the environment; never logged."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        self._key = key

    def subkey(self, purpose: str) -> bytes:
        """A key for another purpose (an HMAC key for search page tokens), derived from this one and
        shared by every process that holds the same master key; it reveals nothing of the master key."""
        return hmac.new(self._key, b"clearance-gateway subkey: " + purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        return cls(base64.b64decode(text.strip(), validate=True))

    @classmethod
    def load_or_create(cls, path: Path) -> tuple[MasterKey, bool]:
        """A development key kept in a file; returns (key, created)."""
        if path.exists():
            return cls.from_base64(path.read_text()), False
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(key).decode())
        return cls(key), True

    def wrap(self, data_key: bytes, doc_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, b"wrap:" + doc_id.encode())

    def unwrap(self, wrapped: bytes, doc_id: str) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], b"wrap:" + doc_id.encode())
        except Exception as exc:
            raise IntegrityError("the document's data key does not unwrap") from exc


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(doc_id: str, index: int, last: bool) -> bytes:
    return doc_id.encode() + b"\0" + struct.pack(">I?", index, last)


class DocumentStore:
    def __init__(self, backend: FilesystemBackend, master: MasterKey):
        self.backend = backend
        self.master = master

    @staticmethod
    def blob_key(doc_id: str, sha256: str) -> str:
        return f"{doc_id}\0{sha256}"

    def put(self, doc_id: str, chunks: Iterable[bytes]) -> StoredContent:
        """Encrypt and store one version of a content (byte chunks of any size); return size and sha256.

        Versions are kept by (id, sha256), so writing a new version never disturbs the one the
        registry points at until the registry's own transaction commits.
        """
        staging = f"{doc_id}\0staging\0{os.urandom(8).hex()}"
        try:
            stored = self._write(staging, doc_id, chunks)
            self.backend.rename(staging, self.blob_key(doc_id, stored.sha256))
        finally:
            self.backend.delete(staging)
        return stored

    def _write(self, key: str, doc_id: str, chunks: Iterable[bytes]) -> StoredContent:
        data_key = AESGCM.generate_key(bit_length=256)
        aead = AESGCM(data_key)
        prefix = os.urandom(8)
        wrapped = self.master.wrap(data_key, doc_id)
        digest, size = hashlib.sha256(), 0
        with self.backend.writer(key) as out:
            out.write(MAGIC + _HEADER.pack(len(wrapped), wrapped, prefix.ljust(12, b"\0")))
            index = 0
            pending = b""
            for piece in _rechunk(chunks):
                if pending:
                    self._seal(out, aead, prefix, doc_id, index, pending, last=False)
                    index += 1
                pending = piece
                digest.update(piece)
                size += len(piece)
            self._seal(out, aead, prefix, doc_id, index, pending, last=True)
        return StoredContent(size, digest.hexdigest())

    @staticmethod
    def _seal(out, aead: AESGCM, prefix: bytes, doc_id: str, index: int, data: bytes, last: bool) -> None:
        sealed = aead.encrypt(_nonce(prefix, index), data, _aad(doc_id, index, last))
        out.write(_RECORD.pack(len(sealed)) + sealed)

    def exists(self, doc_id: str, sha256: str) -> bool:
        return self.backend.exists(self.blob_key(doc_id, sha256))

    def open(self, doc_id: str, sha256: str) -> Iterator[bytes]:
        """Decrypted chunks, each checked before it is yielded; IntegrityError on any tampering.

        The header and first chunk are checked at once (before the caller sends a status line), so
        the common failures surface as an exception the caller can turn into an error response.
        """
        try:
            handle = self.backend.reader(self.blob_key(doc_id, sha256))
        except FileNotFoundError as exc:
            raise IntegrityError("the document's content is missing from the store") from exc
        try:
            if handle.read(len(MAGIC)) != MAGIC:
                raise IntegrityError("not a clearance-gateway document file")
            header = handle.read(_HEADER.size)
            if len(header) != _HEADER.size:
                raise IntegrityError("the document header is truncated")
            wrapped_len, wrapped, prefix = _HEADER.unpack(header)
            aead = AESGCM(self.master.unwrap(wrapped[:wrapped_len], doc_id))
            first = self._next(handle, aead, prefix[:8], doc_id, 0)
        except BaseException:
            handle.close()
            raise
        return self._iterate(handle, aead, prefix[:8], doc_id, first)

    def _iterate(self, handle, aead, prefix, doc_id, first):
        with handle:
            chunk, last = first
            index = 0
            while True:
                yield chunk
                if last:
                    if handle.read(1):
                        raise IntegrityError("data after the last chunk")
                    return
                index += 1
                chunk, last = self._next(handle, aead, prefix, doc_id, index)

    @staticmethod
    def _next(handle, aead: AESGCM, prefix: bytes, doc_id: str, index: int) -> tuple[bytes, bool]:
        head = handle.read(_RECORD.size)
        if len(head) != _RECORD.size:
            raise IntegrityError("the document is truncated")
        (length,) = _RECORD.unpack(head)
        if length > CHUNK + 16:
            raise IntegrityError("a chunk is larger than any chunk the store writes")
        sealed = handle.read(length)
        for last in (False, True):
            try:
                return aead.decrypt(_nonce(prefix, index), sealed, _aad(doc_id, index, last)), last
            except Exception:  # noqa: S112  (try the other flag; both failing is the error)
                continue
        raise IntegrityError(f"chunk {index} failed its authentication tag")


def verified(chunks: Iterator[bytes], expected_sha256: str) -> int:
    """Drain a content, checking every tag and the plaintext's sha256; return its size."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != expected_sha256:
        raise IntegrityError("the content does not match the sha256 the registry holds")
    return size


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) >= CHUNK:
            yield bytes(buffer[:CHUNK])
            del buffer[:CHUNK]
    if buffer:
        yield bytes(buffer)
