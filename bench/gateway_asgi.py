"""The gateway as the benchmark serves it: `python -m bench.workers_server PORT N` (or uvicorn bench.gateway_asgi:app).

The production app (`gateway.asgi` builds the same `create_app()` from the GATEWAY_* environment), plus,
for the benchmark only, the files of $BENCH_STATIC_DIR at /bench-static: a plain, unauthenticated
static response from the same process, middleware and event loop, to set the document release beside.
Nothing here is part of the gateway: the production app has no static route.
"""

from __future__ import annotations

import os

from fastapi.staticfiles import StaticFiles

from bench.workspace import STATIC_DIR_VARIABLE, STATIC_PREFIX
from gateway.app import create_app

app = create_app()
app.mount(STATIC_PREFIX, StaticFiles(directory=os.environ[STATIC_DIR_VARIABLE]), name="bench-static")
