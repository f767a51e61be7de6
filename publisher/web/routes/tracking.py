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
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)?")
_CLICK = re.compile(r"([0-9]{1,6})\.(.+)")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@router.api_route("/t/o/{token}.gif", methods=["GET", "HEAD"], summary="The open pixel of one tracked email (signed)")
def open_pixel(token: str, request: Request, ctx: Context) -> Response:
    delivery_id, campaign_id = _verified(ctx, token)
    with ctx.db.transaction() as session:
        to = target(session, campaign_id, delivery_id)
        if to is None:
            raise HTTPException(404, NOT_FOUND)
        if request.method == "GET":
            record(session, to, Hit(_seen(request, EngagementKind.OPEN), source="app"))
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.api_route("/t/c/{token}", methods=["GET", "HEAD"], summary="A tracked link of one email: records the click, redirects (signed)")
def click(token: str, request: Request, ctx: Context) -> Response:
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
        if request.method == "GET":
            record(session, to, Hit(_seen(request, EngagementKind.CLICK), source="app", link_index=number, url=url))
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
