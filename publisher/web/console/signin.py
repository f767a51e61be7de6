"""Sign in and sign out.

Sign-in attempts are counted per account and per client address in
15-minute windows (NEWSLETTER_SIGNIN_ACCOUNT_LIMIT, NEWSLETTER_SIGNIN_IP_LIMIT).
Each attempt is counted before its password is checked, in one atomic
increment per counter, so guesses sent in parallel cannot all pass a check
made before any of them is counted: past either limit, sign-in is refused
without checking the password, and a guesser learns nothing more until the
window ends. A correct password gives its attempt back, so only failures
use up the allowance.
"""

from __future__ import annotations

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


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(next: str = "/console/campaigns") -> HTMLResponse:
    return console_page("sign_in.html.j2", None, title="Sign in", next_path=_safe_next(next[:500]), email="", error=None)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    ctx: Context,
    email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console/campaigns",
) -> Response:
    # A plain function: FastAPI runs it in its threadpool, so Redis, argon2 and the database never block the event loop.
    account = email.strip().lower()
    ip = client_ip(request, ctx.settings) or "unknown"
    now = time.time()
    counted = [(limit, value, limit.hit(value, now)) for limit, value in zip(_limits(ctx), (account, ip), strict=True)]
    refused = [verdict for _, _, verdict in counted if not verdict.allowed]
    if refused:
        retry_after = max(verdict.retry_after for verdict in refused)
        message = f"Too many failed sign-ins. Try again in {max(1, retry_after // 60)} minute(s)."
        page = console_page("sign_in.html.j2", None, 429, title="Sign in", next_path=_safe_next(next), email=email, error=message)
        page.headers["Retry-After"] = str(retry_after)
        return page
    user = authenticate(ctx.db, email, password)
    if user is None:
        return console_page("sign_in.html.j2", None, 401, title="Sign in", next_path=_safe_next(next), email=email, error=WRONG)
    for limit, value, _ in counted:
        limit.give_back(value, now)
    token = start_session(ctx.db, user.id)
    response = RedirectResponse(_safe_next(next), status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=cookie_is_secure(ctx), path="/console")
    return response


@router.post("/sign-out")
def sign_out(request: Request, ctx: Context, _user: User) -> Response:
    end_session(ctx.db, session_token(request))
    response = RedirectResponse("/console/sign-in", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="lax", secure=cookie_is_secure(ctx))
    return response
