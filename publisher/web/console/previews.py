"""Previews: the email as a chosen subscriber gets it, with its plain-text part and lint report.

The console's CSP forbids inline styles, and an email is made of them, so
the email cannot be put in the page (nor in ``srcdoc``, which inherits the
page's policy). Each rendered preview is kept in Redis for a few minutes
under a random id, bound to the user who asked for it, and the page's
sandboxed iframes load it from ``/console/previews/<id>`` with the email's
own CSP. An unsaved draft previews the same way as the user types.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from publisher.accounts.sessions import SignedIn
from publisher.audience.event_audiences import parse_audience
from publisher.content.drafting import EMPTY_BODY, compose, read_draft
from publisher.content.lint import LintReport, preview_and_lint
from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import Recap
from publisher.core.errors import ContentError
from publisher.db.models import Event
from publisher.web import issue
from publisher.web.console.auth import User, read_form
from publisher.web.console.draft_form import DraftForm
from publisher.web.console.pages import console_page
from publisher.web.console.roles import Editor
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

KEY = "newsletter:console:preview:"
#: How long a rendered preview can be loaded: long enough to read it, short enough not to pile up.
TTL_SECONDS = 15 * 60
#: The email's own policy, framed by the console only.
FRAME_POLICY = issue.CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
WIDTHS = (375, 600)


@dataclass(frozen=True)
class Preview:
    """What the preview fragment shows."""

    token: str
    text: str
    report: LintReport
    recipient: str


def registered_for(ctx: WebContext, list_name: str) -> str | None:
    """The name of the event whose audience ``list_name`` is, for the footer; None for a newsletter list or a name of no event."""
    audience = parse_audience(list_name)
    if audience is None:
        return None
    with ctx.db.transaction() as session:
        return session.scalar(select(Event.name).where(Event.slug == audience.slug))


def render(ctx: WebContext, user: SignedIn, recap: Recap, list_name: str, recipient: SampleSubscriber | None = None) -> Preview:
    """Render the email for ``recipient`` (the sample subscriber by default), lint it, and keep its HTML for the iframes."""
    linted = preview_and_lint(ctx.settings, recap)
    report = linted.report if recap.body.strip() else LintReport((EMPTY_BODY, *linted.report.findings))
    html, text = linted.html, linted.text
    if recipient is not None or list_name:
        shown_to = list_name or "subscribers"
        html, text = preview(ctx.settings, recap, recipient or SampleSubscriber(), shown_to, registered_for(ctx, shown_to))
    token = secrets.token_urlsafe(18)
    ctx.redis.set(KEY + token, json.dumps({"user": user.user_id, "html": html}), ex=TTL_SECONDS)
    return Preview(token=token, text=text, report=report, recipient=(recipient or SampleSubscriber()).email)


@router.get("/previews/{token}", response_class=HTMLResponse)
def framed_preview(ctx: Context, user: User, token: str) -> Response:
    """One stored preview, for the console's iframes only."""
    raw = ctx.redis.get(KEY + token[:64])
    stored = json.loads(raw) if raw else None
    if not stored or stored.get("user") != user.user_id:
        raise HTTPException(404, "this preview has expired: reload the page")
    answer = issue.issue_response(stored["html"], cache_control="no-store")
    answer.headers["Content-Security-Policy"] = FRAME_POLICY
    answer.headers["X-Frame-Options"] = "SAMEORIGIN"
    return answer


@router.post("/campaigns/preview", response_class=HTMLResponse)
async def live_preview(request: Request, ctx: Context, user: Editor) -> Response:
    """The preview of the form as typed, not saved: what htmx swaps in while the user writes."""
    form = DraftForm.read(await read_form(request))
    # Reading the recap (YAML, Markdown) and rendering it is work for the threadpool, not the event loop.
    return await run_in_threadpool(_live_preview_page, ctx, user, form)


def _live_preview_page(ctx: WebContext, user: SignedIn, form: DraftForm) -> Response:
    fields = form.recap_fields()
    if "extra" in form.errors:  # rendered without them, the preview would show a draft that saving refuses
        return console_page("_preview_problems.html.j2", user, 200, problems=[form.errors["extra"]])
    try:
        recap = read_draft(compose(fields, form.body), "the form")
    except ContentError as exc:
        form.place(exc.problems)
        return console_page("_preview_problems.html.j2", user, 200, problems=sorted(set(form.errors.values())))
    shown = render(ctx, user, recap, "")
    return console_page("_preview.html.j2", user, preview=shown, widths=WIDTHS)
