"""The decision endpoints without the framework's per-request machinery (issue #13, item 3).

`POST /access/v1/evaluation` and `POST /access/v1/evaluations` sit on every document open. Served
through FastAPI, about two thirds of a request's time went to routing (every route's pattern tried in
turn), dependency solving, the exception and exit-stack middleware and the response classes, none of
which these two endpoints use. This ASGI layer, the innermost of the gateway's middleware, answers
those two (method and exact path) itself, with the same functions as the FastAPI routes
(gateway/api/authzen.py), which stay for the OpenAPI document and every other method.

What it keeps from the stack around it: the request id, the body limit (the body is read through the
counting `receive` of BodyLimit), the access log line and the request metrics (RequestContext, which
also answers any crash with a 500 problem). Problems are answered here as the app's handlers answer
them: the same RFC 9457 body, status and headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.authzen import answer_evaluation, answer_evaluations
from gateway.api.deps import parsed_json
from gateway.auth import Caller
from gateway.container import Container
from gateway.errors import Problem
from gateway.problem_details import kind_of, problem_body, problem_headers

Answer = Callable[[Container, Caller, Any, "str | None"], Awaitable[dict[str, Any]]]
ENDPOINTS: dict[str, Answer] = {
    "/access/v1/evaluation": answer_evaluation,
    "/access/v1/evaluations": answer_evaluations,
}
_ROUTES = {path: SimpleNamespace(path=path) for path in ENDPOINTS}
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]


class LeanDecisions:
    """Answers POST on the AuthZEN decision paths; passes everything else to `app`."""

    def __init__(self, app: ASGIApp, container: Container):
        self.app = app
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if answer is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTES[scope["path"]]  # the request metrics' label, as the router would set it
        state = scope["state"]
        try:
            caller = self.container.verifier.verify(_authorization(scope))
            state["caller"] = caller
            caller.require("authz:evaluate")
            raw = await _body(receive)
            if raw is None:
                return  # the caller went away before its request was whole: nothing decided, nothing logged
            body = parsed_json(raw)
            decided = await answer(self.container, caller, body, state.get("request_id"))
            status, content, headers = 200, orjson.dumps(decided), _JSON
        except Problem as problem:
            status, content = kind_of(problem).status, orjson.dumps(problem_body(problem))
            headers = [*_PROBLEM, *((k.lower().encode(), v.encode()) for k, v in problem_headers(problem).items())]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


async def _body(receive: Receive) -> bytes | None:
    """The whole body (its size bounded by BodyLimit's counting `receive` around this layer), or None
    if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
