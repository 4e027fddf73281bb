"""Log lines leave from the background writer's thread: the event loop never writes to stderr itself."""

from __future__ import annotations

import io
import re
import threading

import orjson
import pytest
import structlog

from gateway import logging_setup
from gateway.logging_setup import BackgroundWriter, LineLogger, _json_line, processors, request_line


class _Target(io.StringIO):
    """stderr as the background writer sees it: which thread wrote, and how often it was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


def test_a_line_is_queued_by_the_caller_and_written_by_the_writer_thread() -> None:
    target = _Target()
    writer = BackgroundWriter(target, interval=3600)  # the thread stays asleep unless woken
    logger = LineLogger(writer)
    logger.info(_json_line({"event": "request", "status": 200, "request_id": "r-1"}))
    assert target.getvalue() == "" and target.flushes == 0  # nothing written on the caller's thread
    writer.flush()
    assert orjson.loads(target.getvalue()) == {"event": "request", "status": 200, "request_id": "r-1"}
    assert target.getvalue().endswith("\n") and target.getvalue().count("\n") == 1


def test_a_full_buffer_wakes_the_writer_thread() -> None:
    target = _Target()
    writer = BackgroundWriter(target, interval=3600, limit=3)
    logger = LineLogger(writer)
    for i in range(3):
        logger.error(f'{{"n":{i}}}')
    for _ in range(200):
        if target.getvalue():
            break
        threading.Event().wait(0.01)
    assert target.getvalue() == '{"n":0}\n{"n":1}\n{"n":2}\n'
    assert target.writers == {"log-writer"}


def test_the_request_line_is_the_line_structlog_writes_for_the_same_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The access line is made directly (gateway/logging_setup.py request_line), but reads as before:
    the same keys in the same order, the same values, the time in UTC with a Z."""
    through_structlog = _Target()
    writer = BackgroundWriter(through_structlog, interval=3600)
    logger = structlog.wrap_logger(LineLogger(writer), processors=processors())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="r-\u00e9")
    try:
        logger.info("request", method="POST", path="/access/v1/evaluation", status=200, ms=1.25, caller="dms-1")
    finally:
        structlog.contextvars.clear_contextvars()
    writer.flush()
    direct = _Target()
    monkeypatch.setattr(logging_setup, "_request_lines", BackgroundWriter(direct, interval=3600))
    request_line("POST", "/access/v1/evaluation", 200, 1.25, "dms-1", "r-\u00e9")
    logging_setup._request_lines.flush()  # type: ignore[union-attr]
    before, now = orjson.loads(through_structlog.getvalue()), orjson.loads(direct.getvalue())
    assert list(now) == list(before)
    assert {k: v for k, v in now.items() if k != "timestamp"} == {k: v for k, v in before.items() if k != "timestamp"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now["timestamp"])
    assert direct.getvalue().count("\n") == 1

