"""View in browser: the issue as it was sent to the subscriber the signed link belongs to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from publisher.core.links import VIEW
from publisher.db.models import MAX_ID, Campaign, CampaignKind, Subscriber
from publisher.web.deps import Context
from publisher.web.issue import issue_response, neutral_copy, render_html, subscriber_copy
from publisher.web.routes.archive import archive_url
from publisher.web.tokens import verified

router = APIRouter(tags=["subscriber links"])

NO_ISSUE = "This issue is no longer available."


@router.get("/view/{token}", response_class=HTMLResponse, summary="The issue as sent to one subscriber (signed link)")
def view_issue(token: str, ctx: Context) -> HTMLResponse:
    target = verified(ctx.signer, VIEW, token)
    if target.campaign_id is None or target.campaign_id > MAX_ID:
        raise HTTPException(404, NO_ISSUE)
    with ctx.db.transaction() as session:
        campaign = session.get(Campaign, target.campaign_id)
        # Confirmation requests carry a personal confirm link: never a page. A welcome is a copy of an issue.
        if campaign is None or campaign.kind not in (CampaignKind.ISSUE, CampaignKind.WELCOME):
            raise HTTPException(404, NO_ISSUE)
        subscriber = session.get(Subscriber, target.subscriber_id) if target.subscriber_id and target.subscriber_id <= MAX_ID else None
        # View links get forwarded and shared, so the page carries no
        # capability: its unsubscribe and preference links lead to the
        # archive's note on unsubscribing from the email itself.
        urls = {"unsubscribe_url": f"{archive_url(ctx.settings)}#unsubscribe", "view_url": ctx.signer.url(VIEW, target)}
        # A test send to an address that is not a subscriber, or a subscriber
        # erased since, gets the neutral copy: there are no values to fill in.
        recipient = subscriber_copy(subscriber, **urls) if subscriber is not None else neutral_copy(**urls)
        html = render_html(campaign, recipient)
    response = issue_response(html, cache_control="private, no-store")
    response.headers["X-Robots-Tag"] = "noindex"
    return response
