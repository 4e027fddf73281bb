"""The auditors' pages under /audit/: sign-in, the decisions (R1), one decision, exports, verification of
the chains (R2), the annual report (R3) and access reviews.

Thin, like the API it reuses: each page calls the audit API's own route functions (gateway.api.audit,
gateway.api.audit_verify) with the same validation, so a page can show nothing the API would not.
C9: decisions come from the API's whitelist of columns, never with their raw inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, get_type_hints
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import TypeAdapter, ValidationError

from gateway.api import access, audit, audit_verify
from gateway.api.deps import ContainerDep, read_only
from gateway.audit.export import ExportFormat
from gateway.audit.query import DecisionFilter, count_decisions
from gateway.audit.report import MAX_YEAR, MIN_YEAR
from gateway.container import Container
from gateway.decision.reasons import REASON_CODES
from gateway.errors import FieldError, Forbidden, InvalidInput, NotFound, Unauthenticated
from gateway.limits import PAGE_BODY_BYTES
from gateway.web.chart import annual_chart
from gateway.web.render import STATIC_DIR, PageRoute, problem_messages, render
from gateway.web.session import (
    MAX_TOKEN_LENGTH,
    MESSAGES,
    AuditorDep,
    end_session,
    same_origin,
    start_session,
    verify_token,
)

router = APIRouter(prefix="/audit", route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
LABELS = {  # each filter (and the cursor) as the page names it, for the messages about bad values
    "person": "Person",
    "document": "Document",
    "decision": "Decision",
    "reason": "Reason code",
    "organ": "Designating organ",
    "designation": "Designation",
    "caller": "Calling system",
    "simulation": "Simulations",
    "channel": "Channel",
    "since": "Logged from",
    "until": "Logged before",
    "cursor": "Page",
    "year": "Calendar year",
    "at": "As at",
    "within_days": "Losses within (days)",
    "designation_or_document": "Designation or document",
}
FILTERS = (
    "person", "document", "decision", "reason", "organ", "designation", "caller", "simulation", "channel", "since",
    "until",
)  # fmt: skip
# The API's own parameter types, so that a page refuses exactly what GET /v1/audit/decisions refuses.
_API_TYPES = get_type_hints(audit.decision_filter, include_extras=True)
_CHECKS = {name: TypeAdapter(_API_TYPES[name]) for name in FILTERS}
_STATIC = frozenset(p.name for p in STATIC_DIR.iterdir() if p.is_file())
_NOT_SAME_ORIGIN = "The form was not sent from this gateway's own page, so it was refused (CSRF protection)."


# --- filters -------------------------------------------------------------------------------------


def filter_form(request: Request) -> dict[str, str]:
    """The filter form's values as the auditor typed them (to fill the form again)."""
    return {name: request.query_params.get(name, "").strip() for name in FILTERS}


def _instant_text(value: str, zone: ZoneInfo) -> str:
    """A datetime-local value (no offset) read in the configured zone; anything else as it came, for the
    API's own check to judge."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (instant if instant.tzinfo else instant.replace(tzinfo=zone)).isoformat()


def page_filter(form: Mapping[str, str], zone: ZoneInfo) -> DecisionFilter:
    """The form's filters through the API's checks (its parameter types, then audit.decision_filter)."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in FILTERS:
        raw = form[name] or None
        if raw is not None and name in ("since", "until"):
            raw = _instant_text(raw, zone)
        try:
            values[name] = _CHECKS[name].validate_python(raw)
        except ValidationError as exc:
            errors.extend(FieldError(("query", name), e["msg"]) for e in exc.errors())
    if errors:
        raise InvalidInput("the filters are invalid", errors)
    return audit.decision_filter(**values)


async def _count(container: Container, filters: DecisionFilter) -> int:
    return await read_only(container.engine, lambda conn: count_decisions(conn, filters))


# --- sign-in -------------------------------------------------------------------------------------


@router.get("/signin")
async def signin_form(request: Request, m: str | None = None) -> Response:
    return render(request, "signin.html", message=MESSAGES.get(m or ""), error=None)


def _refused_signin(request: Request, status: int, error: str) -> Response:
    return render(request, "signin.html", status=status, message=None, error=error)


@router.post("/signin")
async def signin(request: Request) -> Response:
    if not same_origin(request):
        return _refused_signin(request, 403, _NOT_SAME_ORIGIN)
    # A token and nothing else: no files, a handful of fields, none longer than a token may be.
    form = await request.form(max_files=0, max_fields=8, max_part_size=PAGE_BODY_BYTES)
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    token = token[7:].strip() if token[:7].lower() == "bearer " else token
    if not token:
        return _refused_signin(request, 400, "Paste an audit token to sign in.")
    if len(token) > MAX_TOKEN_LENGTH:
        return _refused_signin(request, 400, f"The token is longer than {MAX_TOKEN_LENGTH} characters.")
    try:
        verify_token(request, token)
    except Unauthenticated as exc:  # the details never include the token
        return _refused_signin(request, 401, f"The token was not accepted: {exc.detail}.")
    except Forbidden as exc:
        return _refused_signin(request, 403, f"The token cannot open the audit pages: {exc.detail}.")
    response = RedirectResponse("/audit/", status_code=303)
    start_session(response, request, token)
    return response


@router.get("/signout")
async def signout_form(request: Request, caller: AuditorDep) -> Response:
    return render(request, "signout.html")


@router.post("/signout")
async def signout(request: Request) -> Response:
    if not same_origin(request):
        return render(request, "error.html", status=403, title="Forbidden", messages=[_NOT_SAME_ORIGIN])
    response = RedirectResponse("/audit/signin?m=signed-out", status_code=303)
    end_session(response, request)
    return response


# --- decisions -----------------------------------------------------------------------------------


@router.get("/")
async def decisions(request: Request, container: ContainerDep, caller: AuditorDep, cursor: str = "") -> Response:
    form = filter_form(request)
    page: dict[str, Any] = {"form": form, "cursor": cursor, "reason_codes": REASON_CODES, "section": "decisions"}
    try:
        filters = page_filter(form, container.settings.zone)
        found = await audit.decisions(container, filters, PAGE_SIZE, cursor or None)
    except InvalidInput as exc:
        return render(request, "decisions.html", status=400, errors=problem_messages(exc, LABELS), items=None, **page)
    total = await _count(container, filters)
    return render(
        request,
        "decisions.html",
        errors=[],
        items=found["items"],
        next_cursor=found["next_cursor"],
        total=total,
        **page,
    )


@router.get("/decisions/{decision_id}")
async def decision(request: Request, decision_id: str, container: ContainerDep, caller: AuditorDep) -> Response:
    item = await audit.decision(decision_id, container)
    back = {**filter_form(request), "cursor": request.query_params.get("cursor", "")}
    return render(request, "decision.html", item=item, back=back, section="decisions")


# --- exports -------------------------------------------------------------------------------------


@router.get("/export")
async def export_page(request: Request, container: ContainerDep, caller: AuditorDep) -> Response:
    form = filter_form(request)
    try:
        filters = page_filter(form, container.settings.zone)
    except InvalidInput as exc:
        return render(
            request, "export.html", status=400, form=form, errors=problem_messages(exc, LABELS), section="export"
        )
    total = await _count(container, filters)
    return render(request, "export.html", form=form, errors=[], total=total, section="export")


@router.get("/export/decisions")
async def export_file(
    request: Request,
    container: ContainerDep,
    caller: AuditorDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.csv,
) -> Response:
    """GET /v1/audit/export itself, authorised by the session cookie."""
    filters = page_filter(filter_form(request), container.settings.zone)
    return await audit.export_decisions(container, filters, fmt)


# --- verification and the annual report ------------------------------------------------------------


@router.get("/verify")
async def verify(request: Request, container: ContainerDep, caller: AuditorDep) -> Response:
    report = await audit_verify.verify_logs(container, caller)
    return render(request, "verify.html", report=report, section="verify")


def _year(text: str | None, container: Container) -> int:
    if not text:
        return container.decisions.clock().astimezone(container.settings.zone).year
    if text.isascii() and text.isdigit() and MIN_YEAR <= int(text) <= MAX_YEAR:
        return int(text)
    raise InvalidInput(
        "the year is invalid", [FieldError(("query", "year"), f"a year is a number from {MIN_YEAR} to {MAX_YEAR}")]
    )


@router.get("/reports/annual")
async def annual(request: Request, container: ContainerDep, caller: AuditorDep, year: str = "") -> Response:
    page: dict[str, Any] = {"year_text": year, "section": "annual"}
    try:
        chosen = _year(year.strip(), container)
    except InvalidInput as exc:
        return render(request, "annual.html", status=400, errors=problem_messages(exc, LABELS), report=None, **page)
    report = await audit.annual(container, chosen)
    return render(request, "annual.html", errors=[], report=report, chart=annual_chart(report), **page)


# --- access reviews ------------------------------------------------------------------------------


@router.get("/access")
async def access_review(request: Request, container: ContainerDep, caller: AuditorDep) -> Response:
    """A designation's (or document's) review, or what one person may read: the API's answers
    (GET /v1/access/review, /what) with an auditor's view of the reasons (C9)."""
    q = request.query_params
    form = {name: q.get(name, "").strip() for name in ("target", "person", "at", "within_days")}
    page: dict[str, Any] = {"form": form, "section": "access", "review": None, "person": None}
    if not form["target"] and not form["person"]:
        return render(request, "access.html", errors=[], **page)
    try:
        within = _within(form["within_days"])
        at = form["at"] or None
        if form["target"]:
            page["review"] = await access.review_answer(container, caller, at, within, target=form["target"])
        else:
            page["person"] = await access.person_answer(container, caller, form["person"], at, within)
    except (InvalidInput, NotFound) as exc:
        status = 404 if isinstance(exc, NotFound) else 400
        return render(request, "access.html", status=status, errors=problem_messages(exc, LABELS), **page)
    return render(request, "access.html", errors=[], **page)


def _within(text: str) -> int:
    if not text:
        return 30
    if text.isascii() and text.isdigit() and len(text) <= 5:
        return int(text)
    raise InvalidInput("the window is invalid", [FieldError(("query", "within_days"), "a number of days, e.g. 30")])


# --- the stylesheet ------------------------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        raise NotFound(f"no file {name!r} here")
    return FileResponse(STATIC_DIR / name)
