"""The auditor's session: the audit token itself, kept in an HttpOnly cookie and verified on every request.

There is no server-side session state: the token is the session, so it ends when the token expires or
its key is withdrawn. CSRF: the cookie is SameSite=Strict, and the only forms that change anything
(sign-in, sign-out) are also refused unless their Origin (or else Referer) is the gateway itself.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from gateway.auth import Caller
from gateway.errors import Forbidden, Unauthenticated

COOKIE = "cg_audit"
COOKIE_PATH = "/audit"
SCOPE = "audit:read"
MAX_TOKEN_LENGTH = 3800  # a cookie holds about 4096 bytes with its name and attributes

# Sign-in messages by key: a redirect names the key, never free text a link could plant on the page.
MESSAGES = {
    "expired": "Your session has ended because the audit token expired. Sign in with a fresh token.",
    "invalid": "The gateway no longer accepts the token of your session. Sign in again.",
    "scope": f"The token of your session does not carry the scope {SCOPE}. Sign in with an audit token.",
    "signed-out": "You are signed out.",
}


class SignInRequired(Exception):
    """No usable session: the page answers with a redirect to sign-in (see render.PageRoute)."""

    def __init__(self, message: str | None = None):
        super().__init__(message or "")
        self.message = message


def verify_token(request: Request, token: str) -> Caller:
    """The Caller of an audit token; Unauthenticated or Forbidden (without the token) otherwise."""
    caller = request.app.state.container.verifier.verify(f"Bearer {token}")
    caller.require(SCOPE)
    return caller


async def auditor(request: Request) -> Caller:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired()
    try:
        caller = verify_token(request, token)
    except Unauthenticated as exc:
        raise SignInRequired("expired" if "expired" in exc.detail else "invalid") from None
    except Forbidden:
        raise SignInRequired("scope") from None
    request.state.caller = caller  # the access log names the auditor
    return caller


AuditorDep = Annotated[Caller, Depends(auditor)]


def start_session(response: Response, request: Request, token: str) -> None:
    """A session cookie (no Max-Age): it outlives the token, so an expired one is told, not silently lost."""
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def signin_redirect(request: Request, message: str | None = None) -> RedirectResponse:
    """Back to sign-in, telling why; a refused token's cookie goes with it."""
    response = RedirectResponse("/audit/signin" + (f"?m={message}" if message in MESSAGES else ""), status_code=303)
    if COOKIE in request.cookies:
        end_session(response, request)
    return response


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(request: Request) -> bool:
    """A form post sent from the gateway's own pages: its Origin (or, without one, its Referer) is this
    host as the request reached it, or the configured public URL."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    public = request.app.state.container.settings.public_url
    ours = {_origin(str(request.base_url)), *([_origin(public)] if public else [])}
    return _origin(source) in ours
