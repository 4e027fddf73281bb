"""Servers under test: a uvicorn subprocess on 127.0.0.1, always stopped when the block ends."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class ServerFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time the server process and its children (uvicorn's workers) have used so
        far (Linux /proc), or None."""
        return tree_cpu_seconds(self.process.pid)

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time process `pid` has used so far (Linux /proc), or None."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of `pid` and of its children that are alive now, or None if `pid` is gone."""
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(c for child in children(pid) if (c := cpu_seconds(child)) is not None)


def process_running(argument: str) -> int | None:
    """The pid of this process's child whose command line holds `argument` (the log writer), or None."""
    for pid in children(os.getpid()):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in words:
            return pid
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def running_server(name: str, argv: Callable[[int], list[str]], *, env: dict[str, str], cwd: Path,
                   log_path: Path, ready_path: str, start_timeout: float = 60.0) -> Iterator[Server]:
    """Start `argv(port)` on a free port, wait until GET `ready_path` answers 200, yield, then stop it."""
    port = free_port()
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches the benchmark only, which then stops the server itself.
        process = subprocess.Popen(argv(port), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, port, process, log_path)
    try:
        _wait_ready(server, ready_path, start_timeout)
        yield server
    finally:
        stop(process)


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited with {server.process.returncode} while starting:\n"
                               f"{log_tail(server.log_path)}")
        try:
            if server.get(path) == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerFailed(f"{server.name} did not answer GET {path} within {timeout:.0f} s:\n"
                       f"{log_tail(server.log_path)}")


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)
