"""create_app(settings): wiring only."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway import __version__
from gateway.api import (
    access,
    admin,
    audit,
    audit_verify,
    authzen,
    docs,
    documents,
    health,
    provisions_admin,
    registry_admin,
    search,
)
from gateway.api.lean import LeanDecisions
from gateway.audit.record import clip
from gateway.container import Container, build_container
from gateway.errors import FieldError, InvalidInput, Problem
from gateway.limits import BodyLimit, body_limit_for, too_large
from gateway.logging_setup import configure_logging, request_line
from gateway.metrics import PENDING, REQUEST_SECONDS, labelled
from gateway.problem_details import INTERNAL, PROBLEM_JSON, Kind, body, kind_of, problem_body, problem_headers
from gateway.service import Clock, system_clock
from gateway.settings import Settings
from gateway.web import pages

log = structlog.get_logger("gateway.http")
# AuthZEN: X-Request-ID is "an arbitrary string" and the same one MUST come back: it is echoed byte for
# byte, whatever it holds (the header limits bound its size). Where it is stored or logged, printable
# ASCII up to 200 characters is kept as sent; anything else is escaped and clipped (stored_request_id).
_REQUEST_ID = re.compile(r"^[\x20-\x7E]{1,200}\Z")
_STORED_LIMIT = 200


DESCRIPTION: dict[str, Any] = {
    "title": "clearance-gateway",
    "version": __version__,
    "description": "Policy-as-code access control for designated information under Japan's security clearance "
    "system. Decisions follow OpenID AuthZEN 1.0. Rules (D1, C3, B1, N1, ...) are explained in docs/rules.md.",
    "docs_url": None,  # served by api/docs.py, without a CDN
    "redoc_url": None,
}
# The gateway exports Prometheus metrics and JSON logs; FastAPI's own OpenTelemetry hooks would only
# look up the (absent) providers on every request.
NO_OPENTELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
ROUTERS = (
    health.router,
    authzen.router,
    search.router,
    access.router,
    documents.router,
    admin.router,
    registry_admin.router,
    provisions_admin.router,
    audit_verify.router,
    audit.router,
    pages.router,
)


def api_description() -> dict[str, Any]:
    """The OpenAPI document of the routes (docs/openapi.json), without building a gateway."""
    app = FastAPI(**DESCRIPTION)
    for router in ROUTERS:
        app.include_router(router)
    return docs.openapi_document(app)


def create_app(
    settings: Settings | None = None, *, container: Container | None = None, clock: Clock = system_clock
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    container = container or build_container(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.start()
        yield
        container.close()

    app = FastAPI(lifespan=lifespan, telemetry=NO_OPENTELEMETRY, **DESCRIPTION)  # type: ignore[arg-type]
    app.state.container = container
    for router in ROUTERS:
        app.include_router(router)
    docs.install(app)
    _install_problem_handlers(app)
    _install_middleware(app, settings, container)
    return app


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem_body(problem),
        status_code=kind_of(problem).status,
        media_type=PROBLEM_JSON,
        headers=problem_headers(problem),
    )


def _install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
        return problem_response(InvalidInput("the request is invalid", errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = Kind(exc.status_code, f"http-{exc.status_code}", str(exc.detail))
        return JSONResponse(body(kind, str(exc.detail)), status_code=exc.status_code, media_type=PROBLEM_JSON)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return crash_response(exc, getattr(request.state, "request_id", "-"))


def crash_response(exc: BaseException, request_id: str) -> JSONResponse:
    log.error("request.crashed", error=type(exc).__name__, exc_info=exc)
    detail = (
        "the gateway failed to handle this request; it was not allowed. "
        f"Quote request id {request_id} to an administrator."
    )
    return JSONResponse(body(INTERNAL, detail), status_code=500, media_type=PROBLEM_JSON)


def _install_middleware(app: FastAPI, settings: Settings, container: Container) -> None:
    limit_for = body_limit_for(settings)
    app.add_middleware(LeanDecisions, container=container)  # innermost: after the limits
    app.add_middleware(BodyLimit, limit_for=limit_for, max_header_bytes=settings.max_header_bytes)
    app.add_middleware(RequestContext, limit_for=limit_for)
    if settings.trusted_proxies:  # outermost: the scheme and client are the proxy's before anything reads them
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)


def stored_request_id(sent: bytes) -> str:
    """The request id as the logs keep it: as sent when it is printable ASCII of at most 200
    characters; otherwise every other byte escaped (\\xNN), clipped, with a digest of the whole so
    that two long ids stay apart."""
    text = sent.decode("latin-1")
    if _REQUEST_ID.match(text):
        return text
    escaped = "".join(c if "\x20" <= c <= "\x7e" and c != "\\" else f"\\x{ord(c):02x}" for c in text)
    if len(escaped) <= _STORED_LIMIT:
        return escaped
    digest = hashlib.sha256(sent).hexdigest()[:16]
    return f"{escaped[: _STORED_LIMIT - 18]}~{digest}"


class RequestContext:
    """Pure ASGI (no BaseHTTPMiddleware on the hot path): request id, body limit, one access-log event."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        sent = headers.get(b"x-request-id")
        request_id = stored_request_id(sent) if sent else os.urandom(16).hex()  # as uuid4().hex, cheaper
        limit = self.limit_for(scope["path"])
        state = scope.setdefault("state", {})
        state["request_id"], state["body_limit"] = request_id, limit
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = [0]
        tag = (b"x-request-id", sent or request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), tag]
            await send(message)

        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            problem = too_large(limit)
            await problem(scope, receive, send_with_id)
        else:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if status[0]:
                    raise  # the answer had begun: all that is left is to cut the connection
                # Answered here, inside this middleware: the problem carries the X-Request-ID, and the
                # connection stays open for the caller's next request.
                await crash_response(exc, request_id)(scope, receive, send_with_id)
        elapsed = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or "unmatched"  # the template, never the raw path
        PENDING.observe(labelled(REQUEST_SECONDS, scope["method"], route, str(status[0])), elapsed)
        caller = state.get("caller")
        # the log line never grows with what a caller sends: the path is clipped
        request_line(scope["method"], clip(scope["path"]), status[0], round(elapsed * 1000, 2),
                     caller.sub if caller else None, request_id)  # fmt: skip
