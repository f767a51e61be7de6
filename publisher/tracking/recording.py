"""Write one open or click of one delivery, classified, in the caller's transaction.

The web app's pixel and redirects and the providers' webhooks both come
here, so an open is judged by the same rules whoever saw it. A click that
completes a burst (every link of the message within seconds) turns the
burst's earlier clicks machine too: they were human only until the last one
showed what they were.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from publisher.db.models import Campaign, Delivery, Engagement, EngagementKind
from publisher.tracking.classify import CLICK_BURST_SECONDS, Seen, burst_reason, machine_reason

#: Engagements kept per delivery: a token replayed in a loop keeps working (the
#: link still leads to its page) but stops writing rows past this many.
MAX_PER_DELIVERY = 200
#: What an erased subscriber's anonymised delivery address starts with (``publisher.audience.privacy``).
ERASED_PREFIX = "erased:"
#: A click link of ours, as a provider that tracks clicks too reports it.
_OWN_CLICK = re.compile(r"https?://[^/]+(?:/[^?#]*)?/t/c/([0-9]{1,6})\.[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Hit:
    """An open or click to record: what was seen, and of which link."""

    seen: Seen
    #: "app", or the provider whose webhook reported it.
    source: str
    link_index: int | None = None
    url: str | None = None


def recordable(delivery: Delivery | None, campaign: Campaign) -> bool:
    """Whether an engagement of this delivery may be written at all.

    Never for a delivery of another campaign than the token's, nor for one
    whose subscriber was erased: their history is gone, and a link they kept
    must not start a new one.
    """
    return delivery is not None and delivery.campaign_id == campaign.id and not delivery.email.startswith(ERASED_PREFIX)


def record(session: Session, delivery: Delivery, campaign: Campaign, hit: Hit) -> Engagement | None:
    """Classify and add the engagement; None when the delivery has MAX_PER_DELIVERY already."""
    count = session.scalar(select(func.count()).select_from(Engagement).where(Engagement.delivery_id == delivery.id)) or 0
    if count >= MAX_PER_DELIVERY:
        return None
    opened_before = (
        session.scalar(
            select(Engagement.id)
            .where(
                Engagement.delivery_id == delivery.id,
                Engagement.kind == EngagementKind.OPEN,
                Engagement.occurred_at <= hit.seen.occurred_at,
            )
            .limit(1)
        )
        is not None
    )
    reason = machine_reason(hit.seen, delivery.sent_at, opened_before)
    engagement = Engagement(
        delivery_id=delivery.id,
        campaign_id=campaign.id,
        kind=hit.seen.kind,
        link_index=hit.link_index,
        url=hit.url[:2000] if hit.url else None,
        source=hit.source[:40],
        occurred_at=hit.seen.occurred_at,
        machine=reason is not None,
        machine_reason=reason[:200] if reason else None,
    )
    session.add(engagement)
    session.flush()
    if hit.seen.kind is EngagementKind.CLICK:
        _mark_burst(session, delivery.id, campaign, hit.seen.occurred_at)
    return engagement


def _mark_burst(session: Session, delivery_id: int, campaign: Campaign, at: dt.datetime) -> None:
    """Mark machine every click of a window in which all the campaign's links were clicked."""
    links = len(campaign.tracked_links or [])
    if links < 2:
        return  # one link clicked once is what a reader does
    since = at - dt.timedelta(seconds=CLICK_BURST_SECONDS)
    window = (
        Engagement.delivery_id == delivery_id,
        Engagement.kind == EngagementKind.CLICK,
        Engagement.occurred_at >= since,
        Engagement.occurred_at <= at,
    )
    clicked = session.execute(select(Engagement.link_index, Engagement.url).where(*window)).all()
    numbers = {_link_number(campaign, index, url) for index, url in clicked} - {None}
    if len(numbers) < links:
        return
    session.execute(
        update(Engagement).where(*window, Engagement.machine.is_(False)).values(machine=True, machine_reason=burst_reason(links))
    )


def provider_link(campaign: Campaign, url: str | None) -> tuple[int | None, str | None]:
    """The link number and URL of a click a provider reported: one of our click links stands for its stored URL.

    A provider that tracks clicks itself reports the link it rewrote, which is
    our click link when ours is tracked too; its token is never stored.
    """
    tracked = campaign.tracked_links or []
    own = _OWN_CLICK.fullmatch(url or "")
    if own is not None:
        number = int(own.group(1))
        return (number, tracked[number]) if number < len(tracked) else (None, None)
    if url in tracked:
        return tracked.index(url), url
    return None, url


def _link_number(campaign: Campaign, index: int | None, url: str | None) -> int | None:
    """The tracked link a click was of: its number, or the number of the URL a provider reported."""
    if index is not None:
        return index
    tracked = campaign.tracked_links or []
    return tracked.index(url) if url in tracked else None
