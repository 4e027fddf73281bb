"""Keeping every replica's caches true to the one shared database.

A gateway process caches the registry (a snapshot, see snapshot.py) and the policy. Three things
tell it that a cache may be out of date:

1. Its own writes. A transaction that records change events marks its connection; when it
   commits, the process's resolver is told at once, so a caller reads its own writes.
2. Other processes' writes, on PostgreSQL. `record_changes` sends a NOTIFY inside the change's own
   transaction, so PostgreSQL delivers it to every listening replica the moment the change commits
   (and never for a change that rolled back). Each process keeps one LISTEN connection in a thread.
3. Time. A snapshot that has not been checked for `max_age` seconds is checked again (one
   primary-key read of the registry version), so a lost notification costs at most that long. While
   the listener has no connection, and always on SQLite, every decision checks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, event, text

log = structlog.get_logger("gateway.invalidation")

CHANNEL = "clearance_gateway_changes"
_CHANGED = "clearance_gateway_changed"  # key in a connection's info: this transaction recorded changes


def announce(conn: Connection, entities: set[str]) -> None:
    """Called by record_changes inside the writing transaction."""
    conn.info[_CHANGED] = True
    if conn.dialect.name == "postgresql":
        payload = ",".join(sorted(entities))
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


def on_local_commit(engine: Engine, callback: Callable[[], None]) -> None:
    """Run `callback` when a transaction of this engine that recorded changes commits."""

    def commit(conn: Connection) -> None:
        if conn.info.pop(_CHANGED, False):
            callback()

    def rollback(conn: Connection) -> None:
        conn.info.pop(_CHANGED, None)

    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)


STOP_WITHIN = 0.1  # seconds: how soon the listener thread notices stop()


class ChangeListener:
    """One PostgreSQL LISTEN connection per process, in a daemon thread that reconnects by itself.

    `on_change(entities)` runs for every notification; `on_state(listening)` when the connection is
    made or lost (the resolver then trusts its cache, or checks on every decision).
    """

    def __init__(
        self,
        url: str,
        on_change: Callable[[set[str]], None],
        on_state: Callable[[bool], None],
        *,
        ping_every: float = 1.0,
        retry_after: float = 0.5,
    ) -> None:
        self.url = url
        self.on_change = on_change
        self.on_state = on_state
        self.ping_every = ping_every
        self.retry_after = retry_after
        self.connected = False
        self.notifications = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    @classmethod
    def for_engine(cls, engine: Engine, **kwargs: Any) -> ChangeListener | None:
        if engine.dialect.name != "postgresql":
            return None
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(url, **kwargs)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"change-listener-{os.getpid()}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ping_every + 5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=3,
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=2,
                    application_name="clearance-gateway listener",
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._set_state(True)
                    pinged = time.monotonic()
                    while not self._stop.is_set():
                        # Short waits, so that stop() is heard within STOP_WITHIN (a process or a test
                        # shutting down), and a ping every ping_every seconds between them.
                        for note in conn.notifies(timeout=min(STOP_WITHIN, self.ping_every)):
                            self.notifications += 1
                            self.on_change(set(filter(None, note.payload.split(","))))
                        if time.monotonic() - pinged >= self.ping_every:
                            conn.execute("SELECT 1")  # a connection that died quietly raises here
                            pinged = time.monotonic()
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("invalidation.listener_lost", error=type(exc).__name__, retry_in=self.retry_after)
            finally:
                self._set_state(False)
            if self._stop.wait(self.retry_after):
                return
            self.reconnects += 1

    def _set_state(self, listening: bool) -> None:
        if listening == self.connected:
            return
        self.connected = listening
        log.info("invalidation.listening" if listening else "invalidation.not_listening")
        self.on_state(listening)
