"""Measurement 15's server: `python -m bench.workers_server PORT WORKERS` serves the benchmark's app
(bench/gateway_asgi.py) on 127.0.0.1 the way `clearance-gateway serve --workers N` serves the gateway's
(gateway.cli.run_server: with several workers, a listening socket each), from the GATEWAY_* environment."""

from __future__ import annotations

import sys

from bench.servers import HOST
from gateway.cli import run_server
from gateway.settings import Settings

if __name__ == "__main__":
    run_server("bench.gateway_asgi:app", Settings(), HOST, int(sys.argv[1]), int(sys.argv[2]))
