"""The current snapshot, for every decision: checked against the registry's version, patched or rebuilt
when it moved (once, under a lock), and read without the database while notifications vouch for it."""

from __future__ import annotations

import contextlib
import gc
import itertools
import threading
import time
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db import READ_ONLY
from gateway.registry.loading import (
    load_snapshot,
)
from gateway.registry.patching import patch_snapshot
from gateway.registry.snapshot import VERSION_SQL, RegistrySnapshot

log = structlog.get_logger("gateway.registry")


class FactResolver:
    """Hands out the current snapshot; rebuilds it (once, under a lock) when the registry moved.

    `listening` says whether change notifications reach this process (set by the ChangeListener).
    While they do, a snapshot checked less than `max_age` seconds ago, with no change announced
    since, is used without asking the database; otherwise every call reads the version first.
    """

    def __init__(self, engine: Engine, max_age: float = 1.0) -> None:
        self._engine = engine
        self.max_age = max_age
        self._snapshot = RegistrySnapshot(version=-1)
        self._lock = threading.Lock()
        self._generations = itertools.count(1)
        self._generation = 0  # moves on every invalidation
        self._checked: tuple[int, float] = (-1, 0.0)  # (generation, monotonic time) of the last check
        self.listening = False
        self.hits = self.checks = self.rebuilds = self.patches = 0
        self.last_rebuild_seconds = 0.0
        self._local = engine.dialect.name == "sqlite"  # a version read is a local file read
        self._reader: Any = None  # SQLite: one connection kept for version reads
        self._reader_lock = threading.Lock()

    @property
    def version(self) -> int:
        """The registry version of the snapshot held now (what /metrics shows)."""
        return self._snapshot.version

    def fresh(self) -> RegistrySnapshot | None:
        """The current snapshot if that is known without waiting on a server: a notification vouches
        for it, or (SQLite) the version read from the local file matches. None: call `current()` from
        a thread. Never blocks on the network, so the event loop may call it."""
        snapshot = self._vouched()
        if snapshot is not None or not self._local:
            return snapshot
        generation = self._generation
        try:
            version = self._read_version()
        except Exception:
            return None  # let current() meet the error where it is handled
        self.checks += 1
        snapshot = self._snapshot
        if version != snapshot.version:
            return None
        self._checked = (generation, time.monotonic())
        return snapshot

    def current(self) -> RegistrySnapshot:
        """The snapshot of the registry's latest committed version, as of the last check."""
        snapshot = self._vouched()
        if snapshot is not None:
            return snapshot
        generation = self._generation  # read before the version: a change announced later re-checks
        version = self._read_version()
        self.checks += 1
        snapshot = self._snapshot
        if snapshot.version != version:
            with self._lock:
                if self._snapshot.version != version:
                    started = time.perf_counter()
                    self._snapshot = self._rebuild()
                    self.rebuilds += 1
                    self.last_rebuild_seconds = time.perf_counter() - started
                snapshot = self._snapshot
        self._checked = (generation, time.monotonic())
        return snapshot

    def _vouched(self) -> RegistrySnapshot | None:
        """The snapshot, if a listening connection vouches for it: checked recently, nothing announced since."""
        generation, checked_at = self._checked
        if self.listening and generation == self._generation and time.monotonic() - checked_at < self.max_age:
            self.hits += 1
            return self._snapshot
        return None

    def touch(self) -> None:
        """Something may have changed: the next call checks the version."""
        self._generation = next(self._generations)

    def set_listening(self, listening: bool) -> None:
        self.touch()  # whatever was announced while nobody listened is checked for
        self.listening = listening

    def _read_version(self) -> int:
        """On the hot path, so on a raw DBAPI connection: a SQLAlchemy Core round trip (checkout,
        BEGIN, compiled SELECT, COMMIT) costs about 0.7 ms here, the raw read a small fraction of it.
        SQLite keeps one connection for it (a pool checkout costs more than the read)."""
        if self._local:
            return self._read_local_version()
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(VERSION_SQL)
            row = cursor.fetchone()
            cursor.close()
            raw.rollback()  # end PostgreSQL's implicit read transaction; a no-op for SQLite autocommit
            return int(row[0]) if row else 0
        finally:
            raw.close()  # back to the pool

    def _read_local_version(self) -> int:
        with self._reader_lock:
            try:
                if self._reader is None:
                    self._reader = self._engine.raw_connection()
                cursor = self._reader.cursor()
                cursor.execute(VERSION_SQL)
                row = cursor.fetchone()
                cursor.close()
                return int(row[0]) if row else 0
            except Exception:
                self._close_reader()
                raise

    def _close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):  # it is being thrown away because it failed already
                self._reader.invalidate()  # do not return a connection in an unknown state to the pool
            self._reader = None

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _rebuild(self) -> RegistrySnapshot:
        """Patched forward from the current snapshot when a few changes moved it, else read whole."""
        options = READ_ONLY if self._engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            try:
                patched = patch_snapshot(conn, self._snapshot)
            except SQLAlchemyError:
                raise
            except Exception as exc:  # a patch that cannot place an event must not cost a decision
                log.warning("registry.patch_failed", error=type(exc).__name__)
                patched = None
            if patched is not None:
                self.patches += 1
                return patched
            snapshot = load_snapshot(conn)
        _out_of_the_collectors_sight()
        return snapshot


def _out_of_the_collectors_sight() -> None:
    """A whole snapshot is millions of long-lived objects. Left to the cyclic collector, each full
    collection walked them all, a pause of about 130 ms on the event loop (the open-loop p99). Once
    read, they are moved to the collector's permanent generation: freed by reference counting when the
    next snapshot replaces them (a snapshot holds no reference cycles), never scanned."""
    gc.collect()
    gc.freeze()
