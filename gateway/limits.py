"""What a caller can make the gateway hold: request bodies counted as they arrive, headers, tokens.

A body is counted message by message as the server hands it over, so a chunked body (no
Content-Length) is bounded exactly as a declared one: past its route's limit the caller gets a 413
problem and the route never sees another byte. Each route has its limit: registry bundles and
document uploads their own settings, the auditors' pages (a sign-in form: a token and nothing else)
a few kilobytes, every other route `max_body_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import TooLarge
from gateway.problem_details import HEADERS_TOO_LARGE, PROBLEM_JSON, TOO_LARGE, Kind, body
from gateway.settings import Settings

PAGE_BODY_BYTES = 16 * 1024  # /audit/ forms: sign-in carries one token of at most MAX_TOKEN_BYTES
MAX_TOKEN_BYTES = 8 * 1024  # a bearer token longer than this is refused before it is parsed
# Instants a caller may name (context.time, audit windows): wide enough for any real question, and far
# from the calendar's ends, where converting to another zone or adding a day overflows.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
MAX_SEQ = 2**63 - 1  # a log's sequence numbers are 64-bit integers in the database


def instant_error(instant: datetime) -> str | None:
    """Why an aware instant is out of the range a caller may name, or None."""
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        return f"the instant must lie from {EARLIEST.date()} up to {LATEST.date()} (UTC)"
    return None


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    """The body limit of each path: the route's own, or the default."""

    def limit_for(path: str) -> int:
        if path.startswith("/v1/admin/documents"):
            return settings.max_upload_bytes
        if path.startswith("/v1/admin/registry/import"):
            return settings.max_import_bytes
        if path.startswith("/audit"):
            return PAGE_BODY_BYTES
        return settings.max_body_bytes

    return limit_for


def too_large(limit: int) -> JSONResponse:
    return _problem(TOO_LARGE, f"the body may be at most {limit} bytes")


def headers_too_large(limit: int) -> JSONResponse:
    return _problem(HEADERS_TOO_LARGE, f"the request's headers may be at most {limit} bytes")


def _problem(kind: Kind, detail: str) -> JSONResponse:
    return JSONResponse(body(kind, detail), status_code=kind.status, media_type=PROBLEM_JSON)


def header_bytes(scope: Scope) -> int:
    """The request line's target and every header, as they came (names, values, separators)."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return target + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class _Overflow(TooLarge):
    """Raised into the route when its body passed the limit; the 413 has been sent already, so
    whatever answer the route's error handling makes of this is dropped."""


class BodyLimit:
    """Pure ASGI: bounds headers (431) and counts body bytes as they arrive (413)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], max_header_bytes: int):
        self.app = app
        self.limit_for = limit_for
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if header_bytes(scope) > self.max_header_bytes:
            await headers_too_large(self.max_header_bytes)(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        received = 0
        started = refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer: whatever the route still tries to send is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await too_large(limit)(scope, receive, send)
                    refused = True
                    raise _Overflow(f"the body may be at most {limit} bytes")
            return message

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The route met the overflow (perhaps wrapped in its own error): the 413 stands.
