"""Admin: create API tokens with scopes (the secret is shown once, on the answer) and revoke them; both audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher.accounts.audit import Action, log
from publisher.accounts.roles import AccountError, parse_scopes
from publisher.accounts.tokens import check_token_name, create_token, revoke_token
from publisher.core.errors import NotFoundError
from publisher.web.console.access import Admin
from publisher.web.console.admin import admin_page
from publisher.web.console.auth import actor
from publisher.web.console.pages import HEADERS
from publisher.web.deps import Context

router = APIRouter(prefix="/console/admin", tags=["console"], include_in_schema=False)

MAX_FIELD = 200


@router.post("/tokens/create", response_class=HTMLResponse)
def create(
    request: Request,
    ctx: Context,
    user: Admin,
    name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    scope: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> HTMLResponse:
    chosen = scope or []
    typed = {"token_name": name, "token_scopes": chosen}
    errors: dict[str, str] = {}
    try:
        check_token_name(name.strip())
    except AccountError as exc:
        errors["token_name"] = str(exc) if name.strip() else "give the token a name, such as the program that will use it"
    try:
        scopes = parse_scopes(chosen)
    except AccountError as exc:
        errors["token_scopes"] = "choose at least one scope" if not chosen else str(exc)
    if errors:
        return admin_page(ctx, user, 400, errors=errors, typed=typed)
    try:
        info, secret = create_token(ctx.db, name.strip(), scopes)
    except AccountError as exc:
        return admin_page(ctx, user, 400, errors={"token_name": str(exc)}, typed=typed)
    detail = " ".join(scope.value for scope in info.scopes)
    log(ctx.db, actor(request, ctx, user), Action.TOKEN_CREATED, target=info.name, detail=detail)
    shown = {"what": f"Token {info.name}", "value": secret}
    return admin_page(ctx, user, notice=f"Token {info.name} was created with {detail}.", shown_once=shown)


@router.post("/tokens/revoke")
def revoke(request: Request, ctx: Context, user: Admin, name: Annotated[str, Form(max_length=MAX_FIELD)]) -> Response:
    try:
        revoke_token(ctx.db, name)
    except NotFoundError as exc:
        return admin_page(ctx, user, 404, errors={"tokens": str(exc)})
    log(ctx.db, actor(request, ctx, user), Action.TOKEN_REVOKED, target=name)
    return RedirectResponse("/console/admin?done=revoked", status_code=303, headers=HEADERS)
