"""The events pages: every event with its people counted, and one event with its audiences, recap drafts and people.

Times are shown in the event's own time zone, as its emails show them.
Every signed-in role may look; each audience links to a new draft to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from publisher.audience.event_audiences import audience_names
from publisher.core.errors import NotFoundError
from publisher.events.catalogue import EventError, event_summaries, event_summary
from publisher.events.roster import people, recap_drafts
from publisher.ledger.results import audience_of
from publisher.web.console.auth import User
from publisher.web.console.pages import console_page
from publisher.web.deps import Context

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

MAX_PAGE = 1_000_000


def local_time(moment: dt.datetime | None, zone: str) -> str:
    """The time as people at the event read it (``2026-09-20 18:00 CEST``); "not given" without one."""
    if moment is None:
        return "not given"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@router.get("/events", response_class=HTMLResponse)
def events_page(ctx: Context, user: User) -> HTMLResponse:
    events = event_summaries(ctx.db, ctx.settings)
    starts = {event.slug: local_time(event.starts_at, event.timezone) for event in events}
    return console_page("events.html.j2", user, title="Events", section="events", events=events, starts=starts)


@router.get("/events/{slug}", response_class=HTMLResponse)
def event_page(ctx: Context, user: User, slug: str, page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> HTMLResponse:
    try:
        summary = event_summary(ctx.db, ctx.settings, slug)
        registrants = people(ctx.db, slug, page)
    except (NotFoundError, EventError) as exc:
        raise HTTPException(404, str(exc)) from None
    audiences = [(name, audience_of(ctx.db, name)) for name in audience_names(summary.slug)]
    return console_page(
        "event.html.j2",
        user,
        title=summary.name,
        section="events",
        event=summary,
        when={
            "starts": local_time(summary.starts_at, summary.timezone),
            "ends": local_time(summary.ends_at, summary.timezone),
        },
        audiences=audiences,
        drafts=recap_drafts(ctx.db, slug),
        people=registrants,
        times={
            person.subscriber_id: (local_time(person.registered_at, summary.timezone), local_time(person.checked_in_at, summary.timezone))
            for person in registrants.rows
        },
    )
