"""Log lines leave from the background writer's thread: the event loop never writes to stderr itself."""

from __future__ import annotations

import io
import threading

import orjson

from gateway.logging_setup import BackgroundWriter, LineLogger, _json_line


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
