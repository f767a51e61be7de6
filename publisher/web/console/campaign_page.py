"""A campaign's page: a draft's preview, test and send forms; a sent campaign's live progress, controls and report.

Progress is live over Server-Sent Events (``/events``): an HTML fragment
every second or so until the campaign is finished, then a ``done`` event
that closes the stream (htmx's ``sse-close``), so the browser does not
reconnect. Without JavaScript the page shows the same fragment, current as
of the last reload.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from publisher.accounts.sessions import SignedIn
from publisher.content.preview import SampleSubscriber
from publisher.core.errors import ContentError, NotFoundError
from publisher.db.models import CampaignStatus
from publisher.ledger import control, states
from publisher.ledger.drafts import Draft, load_draft
from publisher.ledger.results import audience_of, list_members
from publisher.ledger.states import Event
from publisher.ledger.status import in_doubt
from publisher.web.console import previews
from publisher.web.console.auth import User
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.console.progress import live
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

#: Seconds between two progress events.
INTERVAL = 1.0


def recipient_for(ctx: WebContext, list_name: str | None, query: str) -> tuple[SampleSubscriber | None, list[str], str]:
    """The subscriber a preview is for: the one whose address matches ``query`` on the list, else the sample (with why)."""
    query = query.strip()[:320]
    if not query or not list_name:
        return None, [], ""
    members = list_members(ctx.db, list_name, query)
    exact = [m for m in members if m.email == query.lower()]
    if exact or len(members) == 1:
        chosen = (exact or members)[0]
        return SampleSubscriber(chosen.email, chosen.first_name, chosen.last_name), [], ""
    if not members:
        return None, [], f"No confirmed subscriber of {list_name} has an address starting with {query}: showing the sample subscriber."
    return None, [m.email for m in members], "Several subscribers match: choose one."


def existing(ctx: WebContext, campaign_id: int) -> Draft:
    """The campaign, or 404."""
    try:
        return load_draft(ctx.db, campaign_id)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc


def campaign_view(ctx: WebContext, user: SignedIn, campaign_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """The campaign page; ``extra`` carries a form's problems and what was typed, to show them again."""
    draft = existing(ctx, campaign_id)
    context: dict[str, Any] = {
        "draft": draft,
        "is_draft": draft.status is CampaignStatus.DRAFT,
        "test_recipients": "",
        "test_error": "",
        "send_error": "",
        "send_date": "",
        "send_time": "",
        "notice": "",
        "subscriber": "",
        "matches": [],
        "subscriber_error": "",
        "preview": None,
        "widths": previews.WIDTHS,
    }
    context.update(extra)
    figures = live(ctx, campaign_id)
    context["live"] = figures
    if context["is_draft"] and draft.recap_text is not None:
        recipient, matches, why = recipient_for(ctx, draft.list_name, context["subscriber"])
        context.update(matches=matches, subscriber_error=why)
        try:
            context["preview"] = previews.render(ctx, user, draft.recap, draft.list_name or "", recipient)
        except ContentError as exc:
            context["send_error"] = context["send_error"] or str(exc)
        context["audience"] = audience_of(ctx.db, draft.list_name) if draft.list_name else 0
    else:
        status = CampaignStatus(figures.progress.status)
        context["controls"] = {
            "pause": states.allows(status, Event.PAUSE),
            "resume": states.allows(status, Event.RESUME),
            "cancel": states.allows(status, Event.CANCEL),
        }
        context["in_doubt"] = in_doubt(ctx.db, campaign_id)
        context["dead_letters"], context["dead_total"] = control.dead_letters(ctx.db, campaign_id, limit=20)
    return console_page(
        "campaign.html.j2", user, status_code, title=figures.progress.title, section="campaigns", campaign_id=campaign_id, **context
    )


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(ctx: Context, user: User, campaign_id: int, subscriber: str = "", notice: str = "") -> Response:
    notices = {"tested": "Test sent: it is on the priority queue.", "sent": "Sending.", "scheduled": "Scheduled.", "saved": "Draft saved."}
    return campaign_view(ctx, user, campaign_id, subscriber=subscriber, notice=notices.get(notice, ""))


def fragment(ctx: WebContext, user: SignedIn, campaign_id: int) -> tuple[str, bool]:
    """The live fragment's HTML and whether the campaign is finished."""
    existing(ctx, campaign_id)
    figures = live(ctx, campaign_id)
    page = console_page("_progress.html.j2", user, live=figures, campaign_id=campaign_id)
    return bytes(page.body).decode(), figures.progress.finished


@router.get("/campaigns/{campaign_id}/events")
async def progress_events(request: Request, ctx: Context, user: User, campaign_id: int) -> Response:
    """Server-Sent Events: the progress fragment every ``INTERVAL`` seconds until the campaign is finished."""
    await run_in_threadpool(fragment, ctx, user, campaign_id)  # 404 before the stream starts

    async def events() -> AsyncIterator[str]:
        while not await request.is_disconnected():
            html, finished = await run_in_threadpool(fragment, ctx, user, campaign_id)
            yield "event: progress\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            if finished:
                yield "event: done\ndata: finished\n\n"
                return
            await asyncio.sleep(INTERVAL)

    headers = {**HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
