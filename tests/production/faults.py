"""The faults themselves: a PostgreSQL to stop, a database gone read-only, a disk that fills up.

Every fault here is undone by the context or call that made it, also when the test fails.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.production.replicas import HOST, tail
from tests.support import IN_CI, PG_ADMIN_URL, free_port


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    return None


def unavailable(reason: str) -> None:
    """A fault this machine cannot make: a failure under CI=true (the proof must run), else a skip."""
    if IN_CI:
        pytest.fail(f"{reason}; under CI=true this fault test must run")
    pytest.skip(reason)


# --- PostgreSQL stopped ------------------------------------------------------------------------------


def _server_bindir() -> Path | None:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name)) or (0,)

    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if installed:
        return installed[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PrivateCluster:
    """A PostgreSQL cluster of this test's own, on a free port, to stop and start at will.

    The server at 127.0.0.1:5432 is shared by the whole test session (and by anyone else's tests on
    the machine): stopping it would break whatever else uses it at that moment. This cluster runs the
    same server binaries, configured the same way where it matters (fsync on, TCP on 127.0.0.1), and
    is stopped exactly as `pg_ctlcluster <version> main stop -m fast` stops the shared one (that
    command runs `pg_ctl stop -m fast`): every session is cut, open transactions roll back, new
    connections are refused until `pg_ctl start`.
    """

    def __init__(self) -> None:
        bindir = _server_bindir()
        if bindir is None:
            unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        assert bindir is not None
        self.bindir = bindir
        self.port = free_port()
        # Under /tmp, not pytest's tmp_path: that is private to root and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="cg-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "run", self.root / "server.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"

    def __enter__(self) -> PrivateCluster:
        try:
            self.sockets.mkdir()
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres", "postgres")
                shutil.chown(self.sockets, "postgres", "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses={HOST} -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def ready(self) -> bool:
        probe = subprocess.run([str(self.bindir / "pg_isready"), "-h", HOST, "-p", str(self.port)],
                               capture_output=True, timeout=10)
        return probe.returncode == 0

    def create_database(self, name: str) -> str:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        argv = [str(self.bindir / program), *args]
        if os.geteuid() == 0:  # the server refuses to run as root
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                               f"server log:\n{tail(self.log)}")


# --- a read-only database ------------------------------------------------------------------------------


def set_read_only(database_url: str, read_only: bool) -> int:
    """Make one database of the shared server read-only for every new session (or writable again),
    then cut its sessions so that the gateway's next connections get the new setting. Returns how
    many sessions were cut.

    This is how a database goes read-only in production: a managed server that runs out of storage
    sets `default_transaction_read_only` itself, and a failover leaves clients on a read-only
    standby until they reconnect. The setting binds a session when it starts, so both ways the
    sessions are cut; the gateway must reconnect on its own.
    """
    name = make_url(database_url).database
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            value = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
            conn.execute(text(f'ALTER DATABASE "{name}" {value}'))
            cut = conn.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": name},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(cut)


# --- a full disk -----------------------------------------------------------------------------------------


class SmallDisk:
    """A small tmpfs, mounted for the test, that can be filled to the last byte and emptied again.

    A real full file system, not a simulation: once it is full every write that needs a new block
    fails with ENOSPC, which SQLite reports as SQLITE_FULL ("database or disk is full") exactly as
    on a full disk in production. Freeing the filler file gives the space back at once.
    """

    def __init__(self, path: Path, size: str = "64m"):
        self.path = path
        self.size = size
        self.filler = path / "filler"
        self.mounted = False

    def __enter__(self) -> SmallDisk:
        if os.geteuid() != 0:
            unavailable("a full disk needs a tmpfs of its own, and mounting one needs root")
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path)],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            unavailable(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.mounted = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.mounted:
            done = subprocess.run(["umount", str(self.path)], capture_output=True, timeout=30)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)
            self.mounted = False

    def fill(self) -> int:
        """Write zeros until not one more byte fits; returns how many were written."""
        written = 0
        with self.filler.open("wb", buffering=0) as handle:
            for block in (1024 * 1024, 4096, 1):
                chunk = b"\0" * block
                while True:
                    try:
                        written += handle.write(chunk) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize
