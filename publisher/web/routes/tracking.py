"""The open pixel and the click redirects of tracked issues.

``GET /t/o/{token}.gif`` answers a transparent 1×1 GIF and records an open;
``GET /t/c/{n}.{token}`` records a click and redirects to URL number ``n`` of
the token's campaign (``Campaign.tracked_links``). The token is signed for
one delivery of one campaign; ``n`` stands beside it unsigned because it can
only ever pick one of that campaign's own URLs, each of which was in the
issue every recipient got: changing it leads to another link of the same
issue, never anywhere else. A token we did not sign, a number the campaign
does not have, anything malformed: 404, nothing recorded.

HEAD answers as GET does but records nothing (link checkers and prefetchers
use it). The answers are never cached, so every open reaches us; a click of
an erased subscriber's email still leads to its page, and records nothing.
"""

from __future__ import annotations

import base64
import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature
from starlette.exceptions import HTTPException

from publisher.core.clock import utcnow
from publisher.db.models import MAX_ID, EngagementKind
from publisher.tracking.classify import Seen
from publisher.tracking.recording import Hit, record, target
from publisher.web.deps import Context

router = APIRouter(tags=["tracking"])

#: The smallest transparent GIF: 1×1, one colour, that colour transparent.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NOT_FOUND = "This link is not valid. Copy the whole link from the email."
#: A token is a few dozen characters; anything much longer is not one of ours and is not verified.
MAX_TOKEN = 200
#: A tracking token: base64url payload, a dot, base64url signature (never compressed, so never a leading dot).
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
_CLICK = re.compile(r"([0-9]{1,6})\.(.+)")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@router.get("/t/o/{token}.gif", summary="The open pixel of one tracked email (signed): records an open")
def open_pixel(token: str, request: Request, ctx: Context) -> Response:
    return _pixel(token, ctx, _seen(request, EngagementKind.OPEN))


@router.head("/t/o/{token}.gif", include_in_schema=False)
def open_pixel_head(token: str, ctx: Context) -> Response:
    return _pixel(token, ctx, None)


@router.get("/t/c/{token}", summary="A tracked link of one email (signed): records the click, redirects to the link")
def click(token: str, request: Request, ctx: Context) -> Response:
    return _click(token, ctx, _seen(request, EngagementKind.CLICK))


@router.head("/t/c/{token}", include_in_schema=False)
def click_head(token: str, ctx: Context) -> Response:
    return _click(token, ctx, None)


def _pixel(token: str, ctx: Context, seen: Seen | None) -> Response:
    """The pixel, recording ``seen`` (None: a HEAD request, which records nothing)."""
    delivery_id, campaign_id = _verified(ctx, token)
    with ctx.db.transaction() as session:
        to = target(session, campaign_id, delivery_id)
        if to is None:
            raise HTTPException(404, NOT_FOUND)
        if seen is not None:
            record(session, to, Hit(seen, source="app"))
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


def _click(token: str, ctx: Context, seen: Seen | None) -> Response:
    """The redirect to the link's stored URL, recording ``seen`` (None: a HEAD request, which records nothing)."""
    found = _CLICK.fullmatch(token)
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    number = int(found.group(1))
    delivery_id, campaign_id = _verified(ctx, found.group(2))
    with ctx.db.transaction() as session:
        to = target(session, campaign_id, delivery_id)
        if to is None or number >= len(to.links):
            raise HTTPException(404, NOT_FOUND)
        url = to.links[number]
        if seen is not None:
            record(session, to, Hit(seen, source="app", link_index=number, url=url))
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


def _verified(ctx: Context, token: str) -> tuple[int, int]:
    if len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
        raise HTTPException(404, NOT_FOUND)
    try:
        delivery_id, campaign_id = ctx.signer.verify_track(token)
    except BadSignature:
        raise HTTPException(404, NOT_FOUND) from None
    if delivery_id > MAX_ID or campaign_id > MAX_ID:
        raise HTTPException(404, NOT_FOUND)
    return delivery_id, campaign_id


def _seen(request: Request, kind: EngagementKind) -> Seen:
    # The user agent is classified and dropped; the client's address is never read.
    return Seen(kind=kind, occurred_at=utcnow(), user_agent=request.headers.get("user-agent", ""))
