"""The campaigns page: every campaign with its progress from the ledger, filtered by status."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from publisher.db.models import CampaignStatus
from publisher.ledger.status import campaign_progress
from publisher.web.console.auth import User
from publisher.web.console.pages import console_page
from publisher.web.deps import Context

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

PAGE_SIZE = 200


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(ctx: Context, user: User, status: str = "") -> HTMLResponse:
    chosen = status if status in {s.value for s in CampaignStatus} else ""
    campaigns = [c for c in campaign_progress(ctx.db, limit=PAGE_SIZE) if not c.is_test and (not chosen or c.status == chosen)]
    return console_page(
        "campaigns.html.j2",
        user,
        title="Campaigns",
        section="campaigns",
        campaigns=campaigns,
        statuses=[s.value for s in CampaignStatus],
        chosen=chosen,
    )
