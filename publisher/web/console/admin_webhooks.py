"""Admin: outgoing webhook endpoints, added (the secret shown once, on the answer), removed and enabled again; each audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher.accounts.audit import Action, log
from publisher.core.errors import NotFoundError
from publisher.core.fetching import MAX_URL_LENGTH, FetchPolicy
from publisher.outgoing_webhooks.endpoints import add_endpoint, enable_endpoint, remove_endpoint
from publisher.outgoing_webhooks.events import WebhookError, check_event_types
from publisher.web.console.access import Admin
from publisher.web.console.admin import MAX_ID, admin_page
from publisher.web.console.auth import actor
from publisher.web.console.pages import HEADERS
from publisher.web.deps import Context

router = APIRouter(prefix="/console/admin/webhooks", tags=["console"], include_in_schema=False)

ID_LIMIT = 2**31 - 1


@router.post("/add", response_class=HTMLResponse)
def add(
    request: Request,
    ctx: Context,
    user: Admin,
    url: Annotated[str, Form(max_length=MAX_URL_LENGTH + 100)] = "",
    event: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> HTMLResponse:
    chosen = event or []
    typed = {"webhook_url": url, "webhook_events": chosen}
    errors: dict[str, str] = {}
    try:
        check_event_types(chosen)
    except WebhookError as exc:
        errors["webhook_events"] = "choose at least one event type" if not chosen else str(exc)
    if errors:
        return admin_page(ctx, user, 400, errors=errors, typed=typed)
    try:
        info, secret = add_endpoint(ctx.db, url, chosen, FetchPolicy.of(ctx.settings), actor(request, ctx, user).label)
    except WebhookError as exc:
        return admin_page(ctx, user, 400, errors={"webhook_url": str(exc)}, typed=typed)
    log(ctx.db, actor(request, ctx, user), Action.WEBHOOK_ADDED, target=f"endpoint {info.id}", detail=info.url[:1000])
    shown = {"what": f"Signing secret of webhook endpoint {info.id}", "value": secret}
    notice = f"Webhook endpoint {info.id} was added for {', '.join(info.event_types)}."
    return admin_page(ctx, user, notice=notice, shown_once=shown)


@router.post("/remove")
def remove(request: Request, ctx: Context, user: Admin, endpoint: Annotated[int, Form(ge=1, le=min(MAX_ID, ID_LIMIT))]) -> Response:
    try:
        info = remove_endpoint(ctx.db, endpoint)
    except NotFoundError as exc:
        return admin_page(ctx, user, 404, errors={"webhooks": str(exc)})
    log(ctx.db, actor(request, ctx, user), Action.WEBHOOK_REMOVED, target=f"endpoint {info.id}", detail=info.url[:1000])
    return RedirectResponse("/console/admin?done=webhook-removed#webhooks-heading", status_code=303, headers=HEADERS)


@router.post("/enable")
def enable(request: Request, ctx: Context, user: Admin, endpoint: Annotated[int, Form(ge=1, le=min(MAX_ID, ID_LIMIT))]) -> Response:
    try:
        info = enable_endpoint(ctx.db, endpoint)
    except NotFoundError as exc:
        return admin_page(ctx, user, 404, errors={"webhooks": str(exc)})
    log(ctx.db, actor(request, ctx, user), Action.WEBHOOK_ENABLED, target=f"endpoint {info.id}", detail=info.url[:1000])
    return RedirectResponse("/console/admin?done=webhook-enabled#webhooks-heading", status_code=303, headers=HEADERS)
