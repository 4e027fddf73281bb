"""uvicorn's httptools protocol with two bounds it lacks: header size and header-read time.

uvicorn bounds neither with httptools: a client may send headers for ever, or megabytes of them, and
the connection holds its buffer. Here, the bytes a request sends before its headers are complete are
counted as they arrive (431 and close past `max_header_bytes`), and a connection that has not
completed a request's headers within `header_timeout` seconds of starting it is answered 408 and
closed. The number of connections itself is bounded in front of the gateway (see the threat model).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import Settings

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class BoundedHttpProtocol(HttpToolsProtocol):
    """Bounds from the settings (read once per process); tests set the class attributes."""

    max_header_bytes: int | None = None
    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.max_header_bytes is None or cls.header_timeout is None:
            settings = Settings()
            cls.max_header_bytes = cls.max_header_bytes or settings.max_header_bytes
            cls.header_timeout = cls.header_timeout or settings.header_timeout_seconds
        self._reading_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading_headers and self._header_bytes > (self.max_header_bytes or 0):
            self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:  # the next request on a kept-alive connection
            self._reading_headers, self._header_bytes = True, 0
            self._arm()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout or 0, self._timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _timed_out(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        """A plain answer and a closed connection: no request was made, so nothing reaches the app."""
        self._disarm()
        if self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS[status])
        )
        self.transport.close()
