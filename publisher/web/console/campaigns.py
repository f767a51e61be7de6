"""The campaigns page: every campaign with its progress from the ledger, filtered by status, a page at a time (newest first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from publisher.db.models import MAX_ID, CampaignStatus
from publisher.ledger.status import campaign_progress
from publisher.web.console.auth import User
from publisher.web.console.pages import console_page
from publisher.web.deps import Context

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

PAGE_SIZE = 200


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    ctx: Context, user: User, status: str = "", before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    chosen = status if status in {s.value for s in CampaignStatus} else ""
    # Filtered in the query, then limited: a page holds PAGE_SIZE campaigns of the chosen status, one more tells of older ones.
    found = campaign_progress(ctx.db, limit=PAGE_SIZE + 1, before=before, tests=False, status=CampaignStatus(chosen) if chosen else None)
    return console_page(
        "campaigns.html.j2",
        user,
        title="Campaigns",
        section="campaigns",
        campaigns=found[:PAGE_SIZE],
        older=found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None,
        statuses=[s.value for s in CampaignStatus],
        chosen=chosen,
    )
