"""``Pause``, ``Resume``, ``Cancel`` (after ``Confirm cancel``), ``Resend in doubt``, ``Mark sent``, ``Replay``, ``Resend to non-openers``.

Each is one ledger change (``publisher.ledger.control``, ``publisher.ledger.resend``)
and one audit entry. Work made due again (resume, resend, replay) is enqueued
at once, as ``newsletter resume`` does; when the broker cannot take it, the
workers' sweep enqueues it instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from publisher import sending
from publisher.accounts.roles import Actor
from publisher.accounts.sessions import SignedIn
from publisher.core.broker import redis_url
from publisher.core.errors import ConfigurationError, NewsletterError
from publisher.ledger import control
from publisher.ledger.resend import SUBJECT_LIMIT, ResendOrder, ResendRefused
from publisher.queue import dispatch_due
from publisher.web.console.auth import actor
from publisher.web.console.campaign_page import existing
from publisher.web.console.pages import console_page
from publisher.web.console.roles import Sender
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
log = logging.getLogger(__name__)


def _enqueue_due(ctx: WebContext) -> None:
    try:
        dispatch_due(ctx.settings, ctx.db, redis_url(ctx.settings, start=False))
    except (OperationalError, RedisError, OSError):
        log.warning("could not enqueue now; the workers' sweep enqueues the batches", exc_info=True)


def _act(
    request: Request, ctx: WebContext, user: SignedIn, campaign_id: int, change: Callable[[Actor], object], requeue: bool = False
) -> Response:
    """Make the change with its audit entry, enqueue what it made due; a change the campaign's state forbids is a 409 page."""
    existing(ctx, campaign_id)
    try:
        change(actor(request, ctx, user))
    except control.ControlError as exc:
        return console_page(
            "message.html.j2", user, 409, title="Not now", section="campaigns", message=str(exc), back=f"/console/campaigns/{campaign_id}"
        )
    if requeue:
        _enqueue_due(ctx)
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/pause")
def pause(request: Request, ctx: Context, user: Sender, campaign_id: int) -> Response:
    return _act(request, ctx, user, campaign_id, lambda who: control.pause(ctx.db, campaign_id, actor=who))


@router.post("/campaigns/{campaign_id}/resume")
def resume(request: Request, ctx: Context, user: Sender, campaign_id: int) -> Response:
    return _act(request, ctx, user, campaign_id, lambda who: control.resume(ctx.db, campaign_id, actor=who), requeue=True)


@router.post("/campaigns/{campaign_id}/cancel", response_class=HTMLResponse)
def ask_to_cancel(ctx: Context, user: Sender, campaign_id: int) -> Response:
    draft = existing(ctx, campaign_id)
    return console_page("cancel_confirm.html.j2", user, title="Cancel campaign", section="campaigns", draft=draft, campaign_id=campaign_id)


@router.post("/campaigns/{campaign_id}/cancel/confirm")
def cancel(request: Request, ctx: Context, user: Sender, campaign_id: int) -> Response:
    return _act(request, ctx, user, campaign_id, lambda who: control.cancel(ctx.db, campaign_id, actor=who))


@router.post("/campaigns/{campaign_id}/reconcile")
def reconcile(request: Request, ctx: Context, user: Sender, campaign_id: int, choice: Annotated[str, Form(max_length=20)] = "") -> Response:
    if choice not in ("resend", "mark_sent"):
        return console_page(
            "message.html.j2",
            user,
            400,
            title="That did not work",
            section="campaigns",
            message="Choose Resend in doubt or Mark sent.",
            back=f"/console/campaigns/{campaign_id}",
        )
    resend = choice == "resend"

    def change(who: Actor) -> int:
        return control.reconcile(ctx.db, campaign_id, resend=resend, actor=who)

    return _act(request, ctx, user, campaign_id, change, requeue=resend)


@router.post("/campaigns/{campaign_id}/replay")
def replay(request: Request, ctx: Context, user: Sender, campaign_id: int) -> Response:
    return _act(request, ctx, user, campaign_id, lambda who: control.replay(ctx.db, campaign_id, actor=who), requeue=True)


@router.post("/campaigns/{campaign_id}/resend")
def resend(
    request: Request, ctx: Context, user: Sender, campaign_id: int, subject: Annotated[str, Form(max_length=SUBJECT_LIMIT)] = ""
) -> Response:
    """Resend a complete, tracked issue to its non-openers as a new campaign, once; an empty subject keeps the issue's."""
    existing(ctx, campaign_id)
    order = ResendOrder(campaign_id, subject if subject.strip() else None)
    try:
        created = sending.resend(ctx.settings, ctx.db, order, actor(request, ctx, user), ctx.provider_check)
    except (NewsletterError, ConfigurationError) as exc:
        status, title = (409, "Not now") if isinstance(exc, ResendRefused) else (400, "That did not work")
        back = f"/console/campaigns/{campaign_id}"
        return console_page("message.html.j2", user, status, title=title, section="campaigns", message=str(exc), back=back)
    notice = "resend_scheduled" if created.scheduled else "resent"
    return RedirectResponse(f"/console/campaigns/{created.id}?notice={notice}", status_code=303)
