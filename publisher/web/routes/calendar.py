"""An issue's next event as an .ics file: where the email's "add to calendar" link leads.

Served for every issue that has gone out, to a public list or not: the link
is in every recipient's email. It says only what the recap's ``next_event``
says (name, times, venue, registration link), which the email showed to
everyone on the list; nothing about a subscriber, nothing from the body.
Drafts, scheduled issues not released yet, test copies and confirmation
requests have none.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from publisher.content.calendar import MEDIA_TYPE, next_event_ics
from publisher.content.drafting import read_draft
from publisher.content.recap import NextEvent
from publisher.core.errors import ContentError
from publisher.db.models import MAX_ID, Campaign, CampaignKind, CampaignStatus
from publisher.web.deps import Context
from publisher.web.routes.archive import PUBLIC_CACHE, campaign_number

log = logging.getLogger(__name__)

router = APIRouter(tags=["archive"])

NOT_SENT = "There is no issue with this number that has gone out, so there is no event to add to a calendar."
NO_NEXT_EVENT = "This issue names no next event to add to a calendar."
NOT_OUT = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


@router.get(
    "/archive/{campaign_id}/next-event.ics",
    summary="The next event an issue announced, as an iCalendar file",
    response_class=Response,
    responses={
        200: {"description": "A one-event calendar (RFC 5545).", "content": {"text/calendar": {}}},
        404: {"description": "No issue that went out has this number, or it has no next event (HTML page).", "content": {"text/html": {}}},
    },
)
def next_event_calendar(campaign_id: str, ctx: Context) -> Response:
    number = campaign_number(campaign_id)
    with ctx.db.transaction() as session:
        campaign = session.get(Campaign, number) if number is not None and 0 < number <= MAX_ID else None
        if campaign is None or not _gone_out(campaign):
            raise HTTPException(404, NOT_SENT)
        event, stamp = _next_event(campaign), campaign.released_at
    if event is None or stamp is None:
        raise HTTPException(404, NO_NEXT_EVENT)
    body = next_event_ics(event, public_url=ctx.settings.public_url, stamp=stamp)
    headers = {
        "Content-Disposition": 'attachment; filename="next-event.ics"',
        "Cache-Control": PUBLIC_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _gone_out(campaign: Campaign) -> bool:
    return (
        campaign.kind == CampaignKind.ISSUE and not campaign.is_test and campaign.released_at is not None and campaign.status not in NOT_OUT
    )


def _next_event(campaign: Campaign) -> NextEvent | None:
    if not campaign.recap_text:
        return None
    try:
        return read_draft(campaign.recap_text, f"campaign {campaign.id}").meta.next_event
    except ContentError:
        # Stored by a version that read recaps differently: no event rather than a 500.
        log.warning("campaign %s: its stored recap can no longer be read; no next-event calendar", campaign.id)
        return None
