"""A blob backend on the local filesystem. Names are hashes of ids, so no id can reach a path."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


class FilesystemBackend:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / digest[:2] / f"{digest}.cgdoc"

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """Write a blob whole or not at all: a temporary file, fsync, then an atomic rename."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        target = self._path(new)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(old), target)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def reader(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")  # noqa: SIM115  (the caller closes it)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size
