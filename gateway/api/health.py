"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from gateway.api.deps import ContainerDep
from gateway.db import READ_ONLY
from gateway.metrics import render

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and a policy is loaded")
async def readyz(container: ContainerDep) -> JSONResponse:
    def probe() -> str | None:
        try:
            with container.engine.connect().execution_options(**READ_ONLY) as conn:
                conn.execute(text("SELECT 1"))
            return None
        except Exception as exc:
            return type(exc).__name__

    error = await run_in_threadpool(probe)
    policy = container.policies.current
    body = {
        "status": "ready" if error is None else "unavailable",
        "database": "ok" if error is None else "unreachable",
        "policy_version": policy.version,
    }
    return JSONResponse(body, status_code=200 if error is None else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: decisions by result and reason, latencies, log writes, caches, policy version",
    description="Unauthenticated, like most exporters: keep it off the public side of the proxy "
    "(docker/nginx.conf refuses it there). It carries counts and reason codes, never ids.",
)
async def metrics(container: ContainerDep) -> Response:
    body, content_type = await run_in_threadpool(render, container)
    return Response(body, media_type=content_type)
