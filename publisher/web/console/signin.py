"""Sign in and sign out.

Sign-in attempts are counted per account and per client address in
15-minute windows (NEWSLETTER_SIGNIN_ACCOUNT_LIMIT, NEWSLETTER_SIGNIN_IP_LIMIT).
Each attempt is counted before its password is checked, in one atomic
increment per counter, so guesses sent in parallel cannot all pass a check
made before any of them is counted: past either limit, sign-in is refused
without checking the password, and a guesser learns nothing more until the
window ends. A correct password gives its attempt back, so only failures
use up the allowance.

The sign-in form is protected against login CSRF (another site signing the
browser in to an account of its choosing) by a double-submit token: the
page sets a random value in a cookie of its own and in a hidden field, and
a sign-in without both, equal, is refused (403) before anything is counted
or checked.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher.accounts.sessions import end_session, start_session
from publisher.accounts.users import authenticate
from publisher.core.throttle import FixedWindowLimit
from publisher.web.console.auth import COOKIE, User, cookie_is_secure, session_token
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.deps import Context, WebContext, client_ip

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

WINDOW_SECONDS = 15 * 60
MAX_FIELD = 1024
WRONG = "That email and password do not match an account."
EXPIRED = "This sign-in form has expired or did not come from this site: try again."
#: The pre-session cookie of the sign-in form's double-submit token.
SIGNIN_COOKIE = "newsletter_console_signin"
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def _limits(ctx: WebContext) -> tuple[FixedWindowLimit, FixedWindowLimit]:
    secret = ctx.settings.secret
    return (
        FixedWindowLimit(ctx.redis, secret, "signin-account", ctx.settings.signin_account_limit, WINDOW_SECONDS),
        FixedWindowLimit(ctx.redis, secret, "signin-ip", ctx.settings.signin_ip_limit, WINDOW_SECONDS),
    )


def _safe_next(next_path: str) -> str:
    # Only a path of the console itself: never another site, never "//host".
    if next_path.startswith("/console") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/console/campaigns"


def _page(ctx: WebContext, token: str, status_code: int = 200, **context: str | None) -> HTMLResponse:
    """The sign-in page, its form carrying ``token``; the cookie is (re)set so the two always match."""
    page = console_page("sign_in.html.j2", None, status_code, title="Sign in", signin_token=token, **context)
    page.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="lax", secure=cookie_is_secure(ctx), path="/console")
    return page


def _signin_token(request: Request) -> str:
    # Kept across reloads and tabs: a new value would break a form open in another tab.
    sent = request.cookies.get(SIGNIN_COOKIE, "")
    return sent if _TOKEN_SHAPE.fullmatch(sent) else secrets.token_urlsafe(32)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, ctx: Context, next: str = "/console/campaigns") -> HTMLResponse:
    return _page(ctx, _signin_token(request), next_path=_safe_next(next[:500]), email="", error=None)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    ctx: Context,
    email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console/campaigns",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    # A plain function: FastAPI runs it in its threadpool, so Redis, argon2 and the database never block the event loop.
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or not csrf_token or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _page(ctx, _signin_token(request), 403, next_path=_safe_next(next), email=email, error=EXPIRED)
    account = email.strip().lower()
    ip = client_ip(request, ctx.settings) or "unknown"
    now = time.time()
    counted = [(limit, value, limit.hit(value, now)) for limit, value in zip(_limits(ctx), (account, ip), strict=True)]
    refused = [verdict for _, _, verdict in counted if not verdict.allowed]
    if refused:
        retry_after = max(verdict.retry_after for verdict in refused)
        message = f"Too many failed sign-ins. Try again in {max(1, retry_after // 60)} minute(s)."
        page = _page(ctx, cookie, 429, next_path=_safe_next(next), email=email, error=message)
        page.headers["Retry-After"] = str(retry_after)
        return page
    user = authenticate(ctx.db, email, password)
    if user is None:
        return _page(ctx, cookie, 401, next_path=_safe_next(next), email=email, error=WRONG)
    for limit, value, _ in counted:
        limit.give_back(value, now)
    token = start_session(ctx.db, user.id)
    response = RedirectResponse(_safe_next(next), status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=cookie_is_secure(ctx), path="/console")
    response.delete_cookie(SIGNIN_COOKIE, path="/console", httponly=True, samesite="lax", secure=cookie_is_secure(ctx))
    return response


@router.post("/sign-out")
def sign_out(request: Request, ctx: Context, _user: User) -> Response:
    end_session(ctx.db, session_token(request))
    response = RedirectResponse("/console/sign-in", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="lax", secure=cookie_is_secure(ctx))
    return response
