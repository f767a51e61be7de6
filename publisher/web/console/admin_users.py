"""Admin: add and remove console users and set their roles; each change is in the audit log.

A user added without a typed password gets a generated one, shown once on
the answer. The last admin can neither be removed nor lose the role: the
error says to make someone else admin first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher.accounts.audit import Action, log
from publisher.accounts.passwords import check_password, generate_password
from publisher.accounts.roles import AccountError, Role, parse_role
from publisher.accounts.users import MAX_EMAIL, add_user, normalise_login, remove_user, set_role
from publisher.core.errors import NotFoundError
from publisher.web.console.access import Admin
from publisher.web.console.admin import admin_page
from publisher.web.console.auth import actor
from publisher.web.console.pages import HEADERS
from publisher.web.deps import Context

router = APIRouter(prefix="/console/admin", tags=["console"], include_in_schema=False)

MAX_FIELD = 1024


@router.post("/users/add", response_class=HTMLResponse)
def add(
    request: Request,
    ctx: Context,
    user: Admin,
    email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> HTMLResponse:
    typed = {"user_email": email, "user_role": role}
    errors: dict[str, str] = {}
    try:
        address = normalise_login(email)
    except AccountError:
        errors["user_email"] = f"type the person's email address (at most {MAX_EMAIL} characters)"
    try:
        chosen = parse_role(role)
    except AccountError as exc:
        errors["user_role"] = str(exc)
    if password:
        try:
            check_password(password)
        except AccountError as exc:
            errors["user_password"] = str(exc)
    if errors:
        return admin_page(ctx, user, 400, errors=errors, typed=typed)
    secret = password or generate_password()
    try:
        added = add_user(ctx.db, address, chosen, secret)
    except AccountError as exc:
        return admin_page(ctx, user, 400, errors={"user_email": str(exc)}, typed=typed)
    log(ctx.db, actor(request, ctx, user), Action.USER_ADDED, target=added.email, detail=added.role.value)
    shown = None if password else {"what": f"Password for {added.email}", "value": secret}
    return admin_page(ctx, user, notice=f"{added.email} was added as {added.role.value}.", shown_once=shown)


@router.post("/users/remove")
def remove(request: Request, ctx: Context, user: Admin, email: Annotated[str, Form(max_length=MAX_FIELD)]) -> Response:
    try:
        removed = remove_user(ctx.db, email)
    except NotFoundError as exc:
        return admin_page(ctx, user, 404, errors={"users": str(exc)})
    except AccountError as exc:
        return admin_page(ctx, user, 409, errors={"users": str(exc)})
    log(ctx.db, actor(request, ctx, user), Action.USER_REMOVED, target=removed.email, detail=removed.role.value)
    target = "/console/sign-in" if removed.id == user.user_id else "/console/admin?done=removed"
    return RedirectResponse(target, status_code=303, headers=HEADERS)


@router.post("/users/role")
def change_role(
    request: Request,
    ctx: Context,
    user: Admin,
    email: Annotated[str, Form(max_length=MAX_FIELD)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    try:
        chosen = parse_role(role)
        changed = set_role(ctx.db, email, chosen)
    except NotFoundError as exc:
        return admin_page(ctx, user, 404, errors={"users": str(exc)})
    except AccountError as exc:
        return admin_page(ctx, user, 409 if "last admin" in str(exc) else 400, errors={"users": str(exc)})
    log(ctx.db, actor(request, ctx, user), Action.ROLE_CHANGED, target=changed.email, detail=changed.role.value)
    # Someone who gave up their own admin role may no longer see this page.
    demoted = changed.id == user.user_id and chosen is not Role.ADMIN
    return RedirectResponse("/console/campaigns" if demoted else "/console/admin?done=role", status_code=303, headers=HEADERS)
