"""Who is signed in, what they may do, and the CSRF check of every state-changing form.

The session cookie is HttpOnly and SameSite=Lax, and Secure when
NEWSLETTER_PUBLIC_URL is https. A page asked for without a session
redirects to the sign-in page; a form posted without one, or without the
session's CSRF token, gets 403. The subscriber routes do not use any of
this: they are token-only, as RFC 8058 one-click unsubscribe requires.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from publisher.accounts.roles import Actor, Permission, role_allows
from publisher.accounts.sessions import SignedIn, resume_session
from publisher.web.deps import Context, WebContext, client_ip

COOKIE = "newsletter_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SIGN_IN_PATH = "/console/sign-in"
#: A console form carries at most one file (a CSV or a recap) and a few hundred fields (a draft with 50 resource rows).
MAX_FORM_FILES = 1
MAX_FORM_FIELDS = 400


class SignInRequired(Exception):
    """No valid session: a page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def session_token(request: Request) -> str:
    return request.cookies.get(COOKIE, "")


def cookie_is_secure(ctx: WebContext) -> bool:
    return ctx.settings.public_url.startswith("https://")


async def current_user(request: Request, ctx: Context) -> AsyncIterator[SignedIn]:
    """The signed-in user, or SignInRequired (a redirect for GET, 403 for anything else); CSRF is checked on every POST.

    The session is looked up before the body is read: without one, the
    answer is 403 and the body is never parsed.
    """
    idle = dt.timedelta(minutes=ctx.settings.console_idle_minutes)
    signed_in = await run_in_threadpool(resume_session, ctx.db, session_token(request), idle)
    if signed_in is None:
        if request.method in ("GET", "HEAD"):
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        raise HTTPException(403, "sign in first: your session has ended")
    form = None
    if request.method not in ("GET", "HEAD") and not request.headers.get(CSRF_HEADER) and "form" in request.headers.get("content-type", ""):
        # Starlette keeps the parsed form on the request: the route reads the same one.
        form = await read_form(request)
    try:
        if request.method not in ("GET", "HEAD"):
            _check_csrf(request, signed_in, form)
        yield signed_in
    finally:
        if form is not None:
            # Uploaded files are spooled to disk: close them, whether or not the route ran.
            await form.close()


def _check_csrf(request: Request, signed_in: SignedIn, form: FormData | None) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and form is not None:
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
        raise HTTPException(403, "this form has expired or did not come from this site: reload the page and try again")


async def read_form(request: Request) -> FormData:
    """The posted form, within the console's limits; parsed once, whoever asks first (Starlette keeps it)."""
    return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)


#: The parameter type of a console handler: the signed-in user (CSRF checked on POST).
User = Annotated[SignedIn, Depends(current_user)]


def require(permission: Permission) -> object:
    """A dependency refusing (403) a user whose role lacks ``permission``."""

    def check(user: User) -> SignedIn:
        if not role_allows(user.role, permission):
            raise HTTPException(403, f"your role ({user.role.value}) may not do this")
        return user

    return Depends(check)


def actor(request: Request, ctx: WebContext, user: SignedIn) -> Actor:
    """The audit log's name for the user and the address they came from."""
    return Actor(kind="user", name=user.email, role=user.role, ip=client_ip(request, ctx.settings))


def sign_in_location(next_path: str) -> str:
    return f"{SIGN_IN_PATH}?next={quote(next_path, safe='/')}"
