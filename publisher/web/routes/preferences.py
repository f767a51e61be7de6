"""The preference page: every list of one subscriber, and a way to leave one or all.

Someone registered for an event also sees a line for event emails, which
come from their registrations rather than a subscription: a button stops them
(the ``event:*`` suppression, as an event email's own unsubscribe link does),
and leaving every list stops them too, since the emails' footers lead here.

Joining again is deliberately not offered here: a new subscription goes
through double opt-in, so it needs the sign-up form, not a signed link that
may have been forwarded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from publisher.audience.event_audiences import is_registrant
from publisher.audience.lists import event_emails_stopped, leave_all, leave_list, stop_event_emails
from publisher.core.links import PREFERENCES, UNSUBSCRIBE
from publisher.db.models import MAX_ID, MailingList, Subscriber, Subscription, SubscriptionStatus
from publisher.web.deps import Context, WebContext
from publisher.web.render import message_page, page
from publisher.web.tokens import mask_email, verified

log = logging.getLogger(__name__)

router = APIRouter(tags=["subscriber links"])

NO_SUBSCRIBER = "This link comes from a test send or a preview and belongs to no subscriber."
GONE = "We no longer hold any subscriptions for this link, so there is nothing to manage."


@dataclass(frozen=True)
class ListRow:
    list_id: int
    name: str
    description: str
    status: SubscriptionStatus
    label: str

    @property
    def active(self) -> bool:
        return self.status != SubscriptionStatus.UNSUBSCRIBED


@dataclass(frozen=True)
class EventEmails:
    """The event emails line: shown to someone registered for an event."""

    stopped: bool

    @property
    def label(self) -> str:
        return "Stopped" if self.stopped else "Sent for the events you registered for"


@router.get("/preferences/{token}", response_class=HTMLResponse, summary="A subscriber's lists (signed link)")
def preferences_page(token: str, ctx: Context) -> HTMLResponse:
    subscriber_id = _subscriber_id(ctx, token)
    with ctx.db.transaction() as session:
        address = _address(session, subscriber_id)
        if address is None:
            return message_page("Nothing to manage", GONE, brand=ctx.settings.brand)
        return _page(ctx, address, _rows(session, subscriber_id), _event_emails(session, subscriber_id, address), notice=None)


@router.post(
    "/preferences/{token}", response_class=HTMLResponse, summary="Leave one list (list_id) or all (all=1), or stop event emails (events=1)"
)
def update_preferences(
    token: str,
    ctx: Context,
    list_id: Annotated[int | None, Form(description="Leave this list.")] = None,
    leave_everything: Annotated[bool, Form(alias="all", description="Leave every list, and stop event emails.")] = False,
    stop_events: Annotated[bool, Form(alias="events", description="Stop event emails.")] = False,
) -> HTMLResponse:
    subscriber_id = _subscriber_id(ctx, token)
    if list_id is None and not leave_everything and not stop_events:
        raise HTTPException(400, "Choose a list to leave, or leave all lists.")
    with ctx.db.transaction() as session:
        address = _address(session, subscriber_id)
        if address is None:
            return message_page("Nothing to manage", GONE, brand=ctx.settings.brand)
        registrant = is_registrant(session, subscriber_id)
        if leave_everything:
            # Event emails' footers lead here: leaving everything must stop them as well.
            changed = leave_all(session, subscriber_id) + int(stop_event_emails(session, subscriber_id))
            notice = "You have left every list." if changed else "You had already left every list."
            if changed and registrant:
                notice = "You have left every list, and event emails have stopped."
        elif stop_events:
            if not registrant:
                raise HTTPException(400, "You are not registered for any event, so there are no event emails to stop.")
            changed = int(stop_event_emails(session, subscriber_id))
            notice = "Event emails have stopped." if changed else "Event emails had already stopped."
        else:
            row = next((row for row in _rows(session, subscriber_id) if row.list_id == list_id), None)
            if row is None:
                raise HTTPException(400, "You are not on that list, so there is nothing to leave.")
            changed = int(leave_list(session, subscriber_id, row.list_id))
            notice = f"You have left {row.name}." if changed else f"You had already left {row.name}."
        if changed:
            log.info("subscriber %s made %s change(s) on the preference page", subscriber_id, changed)
        return _page(ctx, address, _rows(session, subscriber_id), _event_emails(session, subscriber_id, address), notice=notice)


def _subscriber_id(ctx: WebContext, token: str) -> int:
    # The unsubscribe link's own token opens the page too: it already allows
    # leaving that list, and the page only allows leaving lists.
    target = verified(ctx.signer, PREFERENCES, token, UNSUBSCRIBE)
    if target.subscriber_id is None:
        raise HTTPException(404, NO_SUBSCRIBER)
    return target.subscriber_id


def _address(session: Session, subscriber_id: int) -> str | None:
    """The subscriber's address; None when the subscriber is gone."""
    if subscriber_id > MAX_ID:
        return None
    return session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))


def _rows(session: Session, subscriber_id: int) -> list[ListRow]:
    """The subscriber's lists by name, as they are now (after a change in this session too)."""
    query = (
        select(Subscription, MailingList)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(MailingList.name)
        .execution_options(populate_existing=True)
    )
    return [
        ListRow(mailing_list.id, mailing_list.name, mailing_list.description, subscription.status, _label(subscription))
        for subscription, mailing_list in session.execute(query)
    ]


def _label(subscription: Subscription) -> str:
    if subscription.status == SubscriptionStatus.CONFIRMED:
        return "Subscribed"
    if subscription.status == SubscriptionStatus.PENDING:
        return "Waiting for you to confirm"
    left = subscription.unsubscribed_at
    return f"Left on {left.day} {left:%B %Y}" if left else "Left"


def _event_emails(session: Session, subscriber_id: int, address: str) -> EventEmails | None:
    if not is_registrant(session, subscriber_id):
        return None
    return EventEmails(stopped=event_emails_stopped(session, address))


def _page(ctx: WebContext, address: str, rows: list[ListRow], events: EventEmails | None, notice: str | None) -> HTMLResponse:
    return page(
        "preferences.html.j2",
        brand=ctx.settings.brand,
        title="Your subscriptions",
        address=mask_email(address),
        rows=rows,
        events=events,
        any_active=any(row.active for row in rows) or (events is not None and not events.stopped),
        notice=notice,
    )
