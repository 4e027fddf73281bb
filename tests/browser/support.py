"""The browser tests' gateway: the app of `tests.support.running_gateway` served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tests.support import REPO, Gateway

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "test-artifacts" / "browser"
LAPTOP = {"width": 1280, "height": 800}
# (person, document, context.time or None): allows, denials for several reasons, one simulation.
DECISIONS = [
    ("P-OK", "D-ESI", None),
    ("P-OK", "D-SDS", None),
    ("P-OK", "D-CAN", None),
    ("P-LEAP", "D-LEAP", None),
    ("P-NONE", "D-ESI", None),
    ("C-OK", "D-ESI", None),
    ("C-SALES", "D-ESI", None),
    ("P-OK", "D-ESI", "2026-03-01T09:00:00+09:00"),
]


@dataclass
class Site:
    gateway: Gateway
    url: str  # http://127.0.0.1:PORT
    database: Path  # the SQLite file, for tampering

    def token(self, *scopes: str, **claims: Any) -> str:
        return self.gateway.keys.token(*scopes, **claims)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a free port of 127.0.0.1 until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The app's lifespan already runs under the test client that built it: one container for both.
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
