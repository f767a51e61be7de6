"""Subscribers: `Search` by address, a subscriber's page (subscriptions with consent, deliveries and events), `Export` and `Erase`.

The page shows what ``newsletter subscribers export`` prints. Erasing is for
admins, behind a confirmation page with `Confirm erase`; the audit log then
names the subscriber by id only, and the address is taken out of earlier
entries too (a suppression added by hand names it).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from publisher.accounts.audit import record_erasure
from publisher.audience.lookup import MAX_SEARCH, SEARCH_LIMIT, find_subscribers, subscriber_address
from publisher.audience.privacy import REDACTED, erase, export
from publisher.web.console.access import Admin
from publisher.web.console.auth import User, actor
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/subscribers", response_class=HTMLResponse)
def search_page(ctx: Context, user: User, q: Annotated[str, Query(max_length=MAX_SEARCH)] = "") -> HTMLResponse:
    matches = find_subscribers(ctx.db, q, SEARCH_LIMIT + 1)
    return console_page(
        "subscribers.html.j2",
        user,
        title="Search subscribers",
        section="lists",
        q=q,
        matches=matches[:SEARCH_LIMIT],
        more=len(matches) > SEARCH_LIMIT,
        limit=SEARCH_LIMIT,
    )


def _address(ctx: WebContext, subscriber_id: int) -> str:
    email = subscriber_address(ctx.db, subscriber_id)
    if email is None:
        raise HTTPException(404, f"there is no subscriber {subscriber_id}: erased, or never was")
    return email


def _held(ctx: WebContext, email: str) -> dict[str, object]:
    data = export(ctx.db, email)
    if data is None:  # erased between the two reads
        raise HTTPException(404, "this subscriber no longer exists")
    return data


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def subscriber_page(ctx: Context, user: User, subscriber_id: int) -> HTMLResponse:
    data = _held(ctx, _address(ctx, subscriber_id))
    return console_page("subscriber.html.j2", user, title=str(data["email"]), section="lists", subscriber_id=subscriber_id, data=data)


@router.get("/subscribers/{subscriber_id}/export")
def export_json(ctx: Context, _user: User, subscriber_id: int) -> Response:
    data = _held(ctx, _address(ctx, subscriber_id))
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"'}
    return Response(json.dumps(data, indent=2, ensure_ascii=False), media_type="application/json", headers=headers)


@router.get("/subscribers/{subscriber_id}/erase", response_class=HTMLResponse)
def erase_page(ctx: Context, user: Admin, subscriber_id: int) -> HTMLResponse:
    data = _held(ctx, _address(ctx, subscriber_id))
    return console_page("erase.html.j2", user, title="Erase a subscriber", section="lists", subscriber_id=subscriber_id, data=data)


@router.post("/subscribers/{subscriber_id}/erase", response_class=HTMLResponse)
def erase_subscriber(request: Request, ctx: Context, user: Admin, subscriber_id: int) -> HTMLResponse:
    email = _address(ctx, subscriber_id)
    erased = erase(ctx.db, email, ctx.settings.resolved_outbox_dir)
    record_erasure(ctx.db, actor(request, ctx, user), email, subscriber_id, erased.summary, redacted_as=REDACTED)
    return console_page(
        "message.html.j2",
        user,
        title="Subscriber erased",
        section="lists",
        message=f"Subscriber {subscriber_id} was erased: {erased.summary}. The address will never be mailed or imported again.",
        back="/console/lists",
    )
