"""A campaign's page: a draft's preview, test and send forms; a sent campaign's live progress, controls and report.

Progress is live over Server-Sent Events (``/events``): an HTML fragment
every second or so (its opens and clicks at most every 30 seconds:
``publisher.web.engagement_cache``) until the campaign is finished, then a ``done`` event
that closes the stream (htmx's ``sse-close``), so the browser does not
reconnect. Without JavaScript the page shows the same fragment, current as
of the last reload.

A stream outlives the request that opened it: every ``RECHECK_ROUNDS``
rounds it looks the session up again, ends (``done``) once the user has
signed out, been removed or gone idle too long, and renders the controls
for the user's current role.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from publisher.accounts.sessions import SignedIn, resume_session
from publisher.content.preview import SampleSubscriber
from publisher.core.clock import utcnow
from publisher.core.errors import ContentError, NotFoundError
from publisher.db.models import CampaignStatus
from publisher.ledger import control, states
from publisher.ledger.drafts import Draft, load_draft
from publisher.ledger.resend import resend_state
from publisher.ledger.results import audience_of, list_members
from publisher.ledger.states import Event
from publisher.ledger.status import in_doubt
from publisher.web.console import previews, subject_test_form
from publisher.web.console.auth import User, session_token
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.console.progress import live
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

#: Seconds between two progress events.
INTERVAL = 1.0
#: Rounds between two looks at the session (about five seconds).
RECHECK_ROUNDS = 5
#: Progress streams running in this process, by database and campaign: one left behind by a
#: browser that went away would query the ledger forever.
OPEN_STREAMS: Counter[tuple[str, int]] = Counter()
#: What the page says after a form sent the user back to it (``?notice=``).
NOTICES = {
    "tested": "Test sent: it is on the priority queue.",
    "sent": "Sending has started: the progress below updates by itself.",
    "scheduled": "Scheduled: it starts at the time shown.",
    "approved": "Approved: the workers send it at the time shown, or at their next sweep if that has passed.",
    "picked": "Winner picked: the rest of the list is sent its subject.",
    "resent": "This resend to the first campaign's non-openers has started; its figures below are its own.",
    "resend_scheduled": "This resend to the first campaign's non-openers is scheduled: it starts at the time shown.",
}


@dataclass(frozen=True)
class AutomaticSend:
    """What a draft the sweep sends by itself is waiting for, as the page says it."""

    message: str
    #: Why its last automatic send was refused (it then waits for a new approval).
    reason: str | None
    approved: bool


def automatic_send(draft: Draft, now: dt.datetime) -> AutomaticSend | None:
    """The waiting state of an automatic draft (an event's recap under the rule auto); None for any other campaign."""
    if draft.status is not CampaignStatus.DRAFT or draft.auto_send_at is None:
        return None
    when = f"{draft.auto_send_at:%Y-%m-%d %H:%M} UTC"
    if draft.approved_at is not None:
        if draft.auto_send_at > now:
            message = f"Approved by {draft.approved_by}: sends automatically at {when}."
        else:
            message = f"Approved by {draft.approved_by}: due since {when}, it goes out at the workers' next sweep."
        return AutomaticSend(message, None, approved=True)
    if draft.auto_send_at > now:
        message = f"Sends automatically at {when} once a sender approves it. Until then it waits."
    else:
        message = f"Waiting for approval: due since {when}. It goes out at the workers' next sweep after a sender approves it."
    return AutomaticSend(message, draft.hold_reason, approved=False)


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


def own_subject(draft: Draft) -> str:
    """A draft's own subject: variant 1 of a subject test."""
    try:
        return draft.recap.meta.email_subject
    except (ContentError, NotFoundError):
        return ""


def controls_of(ctx: WebContext, campaign_id: int, status: str) -> dict[str, Any]:
    """What the control section shows: the buttons the campaign's status allows, in-doubt records, dead letters."""
    current = CampaignStatus(status)
    letters, total = control.dead_letters(ctx.db, campaign_id, limit=20)
    return {
        "status": status,
        "controls": {
            "pause": states.allows(current, Event.PAUSE),
            "resume": states.allows(current, Event.RESUME),
            "cancel": states.allows(current, Event.CANCEL),
        },
        "in_doubt": in_doubt(ctx.db, campaign_id),
        "dead_letters": letters,
        "dead_total": total,
        "resend": resend_state(ctx.db, campaign_id, ctx.settings.tracking_days),
    }


def campaign_view(ctx: WebContext, user: SignedIn, campaign_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """The campaign page; ``extra`` carries a form's problems and what was typed, to show them again."""
    draft = existing(ctx, campaign_id)
    context: dict[str, Any] = {
        "draft": draft,
        "is_draft": draft.status is CampaignStatus.DRAFT,
        "test_recipients": "",
        "test_error": "",
        "send_error": "",
        "schedule_error": "",
        "send_date": "",
        "send_time": "",
        "local_time": False,
        "notice": "",
        "subscriber": "",
        "matches": [],
        "subscriber_error": "",
        "preview": None,
        "widths": previews.WIDTHS,
        "approve_error": "",
        "automatic": automatic_send(draft, utcnow()),
        "ab_errors": {},
    }
    context.update(extra)
    if context["is_draft"]:
        # A test set through the API: shown to everyone, and filled into the send form.
        carried = subject_test_form.draft_test(ctx.db, campaign_id)
        context["carried"] = subject_test_form.summary(carried) if carried else ""
        context.setdefault("ab", subject_test_form.of_draft(carried))
        context["own_subject"] = own_subject(draft)
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
        context.update(controls_of(ctx, campaign_id, figures.progress.status))
    return console_page(
        "campaign.html.j2", user, status_code, title=figures.progress.title, section="campaigns", campaign_id=campaign_id, **context
    )


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(ctx: Context, user: User, campaign_id: int, subscriber: str = "", notice: str = "") -> Response:
    return campaign_view(ctx, user, campaign_id, subscriber=subscriber, notice=NOTICES.get(notice, ""))


@dataclass(frozen=True)
class Fragments:
    progress: str
    controls: str
    #: What the controls depend on: they are sent again only when it changes.
    controls_key: tuple[object, ...]
    finished: bool
    #: The subject test's panel ("" without a test): sent when it changes, so its buttons stay put in between.
    subject_test: str = ""


def fragments(ctx: WebContext, user: SignedIn, campaign_id: int) -> Fragments:
    """The live sections' HTML: progress and report, and the controls."""
    existing(ctx, campaign_id)
    # Every second: the opens and clicks are reused for up to engagement_cache.REFRESH.
    figures = live(ctx, campaign_id, fresh=False)
    shown = controls_of(ctx, campaign_id, figures.progress.status)
    progress = console_page("_progress.html.j2", user, live=figures, campaign_id=campaign_id)
    controls = console_page("_controls.html.j2", user, campaign_id=campaign_id, **shown)
    key = (user.role, shown["status"], tuple(shown["in_doubt"]), shown["dead_total"], shown["resend"])
    panel = ""
    if figures.progress.subject_test is not None:
        panel = bytes(console_page("_subject_test.html.j2", user, live=figures, campaign_id=campaign_id).body).decode()
    return Fragments(bytes(progress.body).decode(), bytes(controls.body).decode(), key, figures.progress.finished, panel)


def event(name: str, html: str) -> str:
    """One Server-Sent Event; each line of the fragment is a data line."""
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"


@router.get("/campaigns/{campaign_id}/events")
async def progress_events(request: Request, ctx: Context, user: User, campaign_id: int) -> Response:
    """Server-Sent Events: progress every ``INTERVAL`` seconds, controls when they change, until the campaign is finished.

    The stream ends when the client goes away: Starlette cancels it on the
    disconnect, and the loop checks before each round as well.
    """
    await run_in_threadpool(existing, ctx, campaign_id)  # 404 before the stream starts

    idle = dt.timedelta(minutes=ctx.settings.console_idle_minutes)

    async def events() -> AsyncIterator[str]:
        controls_key: tuple[object, ...] | None = None
        panel = ""
        viewer = user
        stream_key = (str(ctx.db.engine.url), campaign_id)
        OPEN_STREAMS[stream_key] += 1
        try:
            for round_number in itertools.count(1):
                if await request.is_disconnected():
                    return
                now = await run_in_threadpool(fragments, ctx, viewer, campaign_id)
                yield event("progress", now.progress)
                if now.controls_key != controls_key:
                    controls_key = now.controls_key
                    yield event("controls", now.controls)
                if now.subject_test != panel:
                    panel = now.subject_test
                    yield event("subject_test", panel)
                if now.finished:
                    yield "event: done\ndata: finished\n\n"
                    return
                await asyncio.sleep(INTERVAL)
                if round_number % RECHECK_ROUNDS == 0:
                    resumed = await run_in_threadpool(resume_session, ctx.db, session_token(request), idle)
                    if resumed is None:
                        yield "event: done\ndata: signed out\n\n"
                        return
                    viewer = resumed
        finally:
            OPEN_STREAMS[stream_key] -= 1

    headers = {**HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
