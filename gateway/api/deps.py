"""Typed dependencies: every route's signature says what it needs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine

from gateway.auth import Caller
from gateway.container import Container
from gateway.db import READ_ONLY
from gateway.decision.calendar import local_day
from gateway.errors import FieldError, InvalidInput, TooLarge
from gateway.registry.changes import Actor


async def get_container(request: Request) -> Container:
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


async def authenticated(request: Request) -> Caller:
    caller = request.app.state.container.verifier.verify(request.headers.get("authorization"))
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(authenticated)]


def hot_path_caller(request: Request, *scopes: str) -> tuple[Container, Caller]:
    """What `ContainerDep` and `scoped()` give, without FastAPI's dependency solving (about half a
    millisecond a request here): for the decision endpoints only."""
    container: Container = request.app.state.container
    caller = container.verifier.verify(request.headers.get("authorization"))
    request.state.caller = caller
    caller.require(*scopes)
    return container, caller


def scoped(*scopes: str) -> Any:
    """A dependency that authenticates and demands one of `scopes` (403 otherwise)."""

    async def dependency(caller: CallerDep) -> Caller:
        caller.require(*scopes)
        return caller

    return Depends(dependency)


T = TypeVar("T")


def reading(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work(conn)` in a read-only transaction, on this thread."""
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
        return work(conn)


async def read_only(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work(conn)` in a read-only transaction, on a worker thread: what the auditors' API and pages read."""
    return await run_in_threadpool(reading, engine, work)


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def change_actor(request: Request, caller: Caller) -> Actor:
    """Who makes a change, and when by the gateway's clock: the registry's history dates it so."""
    container: Container = request.app.state.container
    now = container.decisions.clock()
    return Actor(caller.sub, request_id(request), now, local_day(now, container.settings.zone))


async def json_body(request: Request) -> Any:
    return parsed_json(await bounded_body(request))


def parsed_json(raw: bytes) -> Any:
    """A request body as JSON: refused (400) when empty, malformed, or naming a key twice in one object."""
    if not raw:
        raise InvalidInput("the request needs a JSON body", [FieldError((), "empty body")])
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("the body is not valid JSON", [FieldError((), str(exc))]) from exc
    twice = duplicate_keys(raw, body)
    if twice:
        raise InvalidInput(
            "the body names a key twice in one object; which one counts would be a guess",
            [FieldError(path, "this key appears more than once in its object") for path in twice],
        )
    return body


class _Twice(Exception):
    pass


_UNPARSED = object()


def _unique(pairs: list[tuple[str, Any]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _Twice
    return None  # the tree is not kept: orjson's is


_CHECK = json.JSONDecoder(object_pairs_hook=_unique)


class _Pairs(list):
    """An object's (key, value) pairs as the parser read them, to find where a key repeats."""


# Every string token of a JSON text, and whether a colon follows it (then it is a key). Outside strings
# JSON has no quote, so scanning string tokens left to right is exact.
_STRING_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"([ \t\n\r]*:)?')


def _keys_written(raw: bytes) -> int:
    found = _STRING_TOKENS.findall(raw)
    return len(found) - found.count(b"")


def _keys_read(node: Any) -> int:
    """Keys in the parsed tree: a key written twice in one object is there once."""
    if type(node) is dict:
        return len(node) + sum(_keys_read(v) for v in node.values() if type(v) is dict or type(v) is list)
    if type(node) is list:
        return sum(_keys_read(v) for v in node if type(v) is dict or type(v) is list)
    return 0


def duplicate_keys(raw: bytes, parsed: Any = _UNPARSED) -> list[tuple[Any, ...]]:
    """The JSON path of every key that appears twice in one object (RFC 8259 leaves it to the reader;
    a gate must not guess which value counts). Given the tree a parser made of `raw`, the keys written
    are counted against the keys read (a C regex scan and a walk of the containers: about 2 µs for an
    evaluation, 1.5 µs an item in a batch); only when they differ, or with no tree, does the standard
    library's parser read the text again to name the places."""
    if parsed is not _UNPARSED and _keys_written(raw) == _keys_read(parsed):
        return []
    text = raw.decode("utf-8", "replace")
    try:
        _CHECK.decode(text)
        return []
    except _Twice:
        pass
    found: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            for key, value in node:
                if key in seen:
                    found.append((*path, key))
                seen.add(key)
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(json.loads(text, object_pairs_hook=_Pairs), ())
    return found


async def bounded_body(request: Request) -> bytes:
    limit = getattr(request.state, "body_limit", 2 * 1024 * 1024)
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body has no Content-Length: count as it comes
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, prefix: tuple[Any, ...] = ()) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(prefix + tuple(e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(f"the request does not match the {model.__name__} schema", errors) from exc
