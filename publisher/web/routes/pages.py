"""The unsubscribe page, reached from a signed link in every email.

GET never changes anything (mail scanners fetch every link in a message);
POST unsubscribes at once: it is both the page's button and RFC 8058
one-click, which mailbox providers send without cookies or a CSRF token. The
signed token is the capability, so none is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from publisher.audience.lists import leave_audience
from publisher.audience.suppressions import is_suppressed
from publisher.core.links import PREFERENCES, UNSUBSCRIBE, LinkTarget
from publisher.db.models import MAX_ID, Event, MailingList, Subscriber, Subscription, SubscriptionStatus
from publisher.web.deps import Context, WebContext
from publisher.web.render import page
from publisher.web.tokens import mask_email, verified

log = logging.getLogger(__name__)

router = APIRouter(tags=["subscriber links"])

#: Links of a test send or a preview name no list: there is nothing they could unsubscribe.
NOT_A_SUBSCRIPTION = "This link comes from a test send or a preview and belongs to no subscription. Nothing was changed."


@dataclass(frozen=True)
class Membership:
    ids: tuple[int, int]
    address: str
    list_name: str
    status: SubscriptionStatus
    #: The name of the event when the link came with an event email (an event audience, not a subscription).
    event_name: str | None = None


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="Ask before unsubscribing (signed link)")
def unsubscribe_page(token: str, ctx: Context) -> HTMLResponse:
    target = verified(ctx.signer, UNSUBSCRIBE, token)
    with ctx.db.transaction() as session:
        membership = _membership(session, target)
    if membership is None:
        return _gone(ctx, target)
    state = "already" if membership.status == SubscriptionStatus.UNSUBSCRIBED else "confirm"
    return _page(ctx, target, membership, state)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="Unsubscribe now: the page's button and RFC 8058 one-click")
def unsubscribe(token: str, ctx: Context) -> HTMLResponse:
    # The body is not read: RFC 8058 senders post "List-Unsubscribe=One-Click"
    # as urlencoded or multipart, our own form posts the same, and the token
    # alone decides what happens.
    target = verified(ctx.signer, UNSUBSCRIBE, token)
    with ctx.db.transaction() as session:
        membership = _membership(session, target)
        if membership is None:
            return _gone(ctx, target)
        subscriber_id, list_id = membership.ids
        if leave_audience(session, subscriber_id, list_id):
            log.info("subscriber %s left list %s through an unsubscribe link", target.subscriber_id, target.list_id)
    return _page(ctx, target, membership, "done")


def _membership(session: Session, target: LinkTarget) -> Membership | None:
    """The subscription the link names; None when the subscriber, the list or the subscription is gone."""
    if target.subscriber_id is None or target.list_id is None:
        raise HTTPException(404, NOT_A_SUBSCRIPTION)
    if target.subscriber_id > MAX_ID or target.list_id > MAX_ID:
        return None
    event_audience = session.execute(
        select(Subscriber.email, Event.name)
        .select_from(Subscriber)
        .join(MailingList, MailingList.id == target.list_id)
        .join(Event, Event.id == MailingList.event_id)
        .where(Subscriber.id == target.subscriber_id)
    ).first()
    if event_audience is not None:
        # Event emails go to registrants, who hold no subscription: leaving
        # them is the "events" suppression, which newsletter lists ignore.
        email, event_name = event_audience
        status = SubscriptionStatus.UNSUBSCRIBED if is_suppressed(session, email, target.list_id) else SubscriptionStatus.CONFIRMED
        return Membership((target.subscriber_id, target.list_id), email, "event emails", status, event_name)
    row = session.execute(
        select(Subscriber.email, MailingList.name, Subscription.status)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscriber.id == target.subscriber_id, MailingList.id == target.list_id)
    ).first()
    if row is None:
        return None
    ids = (target.subscriber_id, target.list_id)
    return Membership(ids=ids, address=row[0], list_name=row[1], status=SubscriptionStatus(row[2]))


def _page(ctx: WebContext, target: LinkTarget, membership: Membership, state: str) -> HTMLResponse:
    titles = {"confirm": "Unsubscribe", "already": "Already unsubscribed", "done": "Unsubscribed"}
    return page(
        "unsubscribe.html.j2",
        brand=ctx.settings.brand,
        title=titles[state],
        state=state,
        address=mask_email(membership.address),
        list_name=membership.list_name,
        event_name=membership.event_name,
        preferences_url=ctx.signer.url(PREFERENCES, target),
    )


def _gone(ctx: WebContext, target: LinkTarget) -> HTMLResponse:
    # 200, not 404: the subscriber (or the list) was deleted, so the person
    # gets nothing from it any more, which is what they came for; a one-click
    # sender must not report a failure for that.
    return page(
        "unsubscribe.html.j2",
        brand=ctx.settings.brand,
        title="Nothing to unsubscribe",
        state="gone",
        address="",
        list_name="",
        event_name=None,
        preferences_url=ctx.signer.url(PREFERENCES, target),
    )
