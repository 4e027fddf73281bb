"""Listening sockets for `serve --workers N`: one per worker, and the kernel spreads the connections.

uvicorn's workers share one listening socket, and whichever worker wakes first accepts every connection
waiting. A document system opens its pool of keep-alive connections at once, so one worker took them
nearly all (16 connections opened together went 13/3, 14/2 and 16/0 in three runs on the project's
2-core machine) and the other one idled. Here each worker listens on a socket of its own, bound to the
same address with SO_REUSEPORT, and Linux hands each new connection to one of them by a hash of its
addresses (the same 16 connections went 9/7, 11/5, 4/12). Elsewhere (no SO_REUSEPORT that spreads
connections) the shared socket stays.

SO_REUSEPORT lets another process of the same user bind the same port. So that a forgotten gateway
still listening there is not silently handed half the connections, `serve` first binds the address
the ordinary way (cli_demo.ensure_port_free): if anything listens on it, the gateway does not start.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def spread_supported() -> bool:
    """Linux spreads new connections over the sockets that share a port with SO_REUSEPORT."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def worker_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket of this worker's own on the shared address. Small answers leave at once
    (TCP_NODELAY, inherited by the connections it accepts), as on uvicorn's own sockets."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class WorkerSocket:
    """Stands in uvicorn's list of sockets for a worker: a worker process starts with a copy of that
    list, and this entry becomes, as the copy is read there, a listening socket of the worker's own."""

    def __init__(self, host: str, port: int, backlog: int):
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return worker_socket, (self.host, self.port, self.backlog)
