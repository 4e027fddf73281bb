"""HTML for the auditors' pages: one Jinja2 environment (autoescaped), and a route class that gives every
page the same security headers and turns a refused session or a problem into a page, never JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from gateway.errors import FieldError, InvalidInput, Problem
from gateway.problem_details import kind_of
from gateway.web.session import SignInRequired, signin_redirect

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # the pages name people: keep them out of every cache
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # filters (person ids) stay in the gateway's own URLs
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@jinja2.pass_context
def _local_time(context: Any, value: str | datetime | None) -> str:
    """An instant in the configured zone (Japan time by default), to the second; pages name the zone."""
    if value is None:
        return ""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.astimezone(context["zone"]).strftime("%Y-%m-%d %H:%M:%S")


def query(params: Mapping[str, Any], **extra: Any) -> str:
    """`?a=1&b=2` of the non-empty values, or "" when there are none."""
    pairs = {k: v for k, v in {**params, **extra}.items() if v not in (None, "")}
    return "?" + urlencode(pairs) if pairs else ""


_env.filters["local_time"] = _local_time
_env.globals["query"] = query


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    container = request.app.state.container
    zone = container.settings.zone
    html = _env.get_template(template).render(
        request=request,
        caller=getattr(request.state, "caller", None),
        zone=zone,
        zone_name=container.settings.timezone,
        zone_label=container.decisions.clock().astimezone(zone).tzname(),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def problem_messages(problem: Problem, labels: Mapping[str, str] | None = None) -> list[str]:
    """What a page shows for a problem: each bad field, by its label on the page; or else its detail."""
    errors: list[FieldError] = getattr(problem, "errors", [])
    named = labels or {}
    fields = [f"{named.get(str(e.location[-1]), e.location[-1])}: {e.detail}" for e in errors if e.location]
    return fields or [problem.detail[:1].upper() + problem.detail[1:]]


def validation_problem(exc: RequestValidationError) -> InvalidInput:
    """The app's own translation of a validation error (gateway.app), for a page."""
    return InvalidInput("the request is invalid", [FieldError(tuple(e["loc"]), e["msg"]) for e in exc.errors()])


class PageRoute(APIRoute):
    """Every /audit page: the security headers on whatever it answers; a refused session goes back to
    sign-in; a problem becomes an HTML page with the problem's status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired as exc:
                response = signin_redirect(request, exc.message)
            except RequestValidationError as exc:
                response = _error_page(request, validation_problem(exc))
            except Problem as exc:
                response = _error_page(request, exc)
            response.headers.update(SECURITY_HEADERS)
            return response

        return page


def _error_page(request: Request, problem: Problem) -> HTMLResponse:
    kind = kind_of(problem)
    return render(request, "error.html", status=kind.status, title=kind.title, messages=problem_messages(problem))
