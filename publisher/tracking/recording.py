"""Write one open or click of one delivery, classified, in the caller's transaction.

The web app's pixel and redirects and the providers' webhooks both come
here, so an open is judged by the same rules whoever saw it. A click that
completes a burst (every link of the message within seconds) turns the
burst's earlier clicks machine too: they were human only until the last one
showed what they were.

A click answers within milliseconds, so nothing here loads a whole row:
the campaign's stored issue alone is tens of kilobytes. ``target`` reads the
few columns needed in one query.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
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
ENGAGEMENTS = Engagement.metadata.tables[Engagement.__tablename__]


@dataclass(frozen=True)
class Target:
    """What recording needs of a tracked campaign and, when it is one of the campaign's, its delivery."""

    campaign_id: int
    #: The campaign's tracked URLs by link number.
    links: tuple[str, ...]
    #: None when the delivery is not the campaign's (or no longer exists).
    delivery_id: int | None
    sent_at: dt.datetime | None
    #: The delivery's subscriber was erased: their history is gone, and a link they kept must not start a new one.
    erased: bool

    @property
    def recordable(self) -> bool:
        return self.delivery_id is not None and not self.erased


#: Built once: a click has a few milliseconds, and building a statement costs a good part of one.
_TARGET = (
    select(Campaign.tracking, Campaign.tracked_links, Delivery.id, Delivery.email, Delivery.sent_at)
    .select_from(Campaign)
    .outerjoin(Delivery, (Delivery.id == bindparam("delivery_id")) & (Delivery.campaign_id == Campaign.id))
    .where(Campaign.id == bindparam("campaign_id"))
)
#: A delivery's engagements so far (never more than MAX_PER_DELIVERY): the history every rule reads.
_HISTORY = (
    select(Engagement.kind, Engagement.occurred_at, Engagement.link_index, Engagement.url)
    .where(Engagement.delivery_id == bindparam("delivery_id"))
    .limit(MAX_PER_DELIVERY)
)
_INSERT = insert(ENGAGEMENTS)


def target(session: Session, campaign_id: int, delivery_id: int) -> Target | None:
    """The tracked campaign and its delivery ``delivery_id``; None when the campaign does not exist or is not tracked."""
    row = session.execute(_TARGET, {"campaign_id": campaign_id, "delivery_id": delivery_id}).first()
    if row is None or not row.tracking:
        return None
    return Target(
        campaign_id=campaign_id,
        links=tuple(row.tracked_links or ()),
        delivery_id=row.id,
        sent_at=row.sent_at,
        erased=row.id is not None and row.email.startswith(ERASED_PREFIX),
    )


@dataclass(frozen=True)
class Hit:
    """An open or click to record: what was seen, and of which link."""

    seen: Seen
    #: "app", or the provider whose webhook reported it.
    source: str
    link_index: int | None = None
    url: str | None = None


def record(session: Session, to: Target, hit: Hit) -> bool:
    """Classify and add the engagement; False when it is not recordable or the delivery has MAX_PER_DELIVERY already."""
    if to.delivery_id is None or to.erased:
        return False
    seen = hit.seen
    history = session.execute(_HISTORY, {"delivery_id": to.delivery_id}).all()
    if len(history) >= MAX_PER_DELIVERY:
        return False
    opened_before = any(row.kind is EngagementKind.OPEN and row.occurred_at <= seen.occurred_at for row in history)
    reason = machine_reason(seen, to.sent_at, opened_before=opened_before)
    url = hit.url[:2000] if hit.url else None
    values = {
        "delivery_id": to.delivery_id,
        "campaign_id": to.campaign_id,
        "kind": seen.kind,
        "link_index": hit.link_index,
        "url": url,
        "source": hit.source[:40],
        "occurred_at": seen.occurred_at,
        "machine": reason is not None,
        "machine_reason": reason[:200] if reason else None,
    }
    session.execute(_INSERT, values)
    if seen.kind is EngagementKind.CLICK and _burst(to, [*history, (seen.kind, seen.occurred_at, hit.link_index, url)], seen.occurred_at):
        since = seen.occurred_at - dt.timedelta(seconds=CLICK_BURST_SECONDS)
        session.execute(
            update(Engagement)
            .where(
                Engagement.delivery_id == to.delivery_id,
                Engagement.kind == EngagementKind.CLICK,
                Engagement.occurred_at >= since,
                Engagement.occurred_at <= seen.occurred_at,
                Engagement.machine.is_(False),
            )
            .values(machine=True, machine_reason=burst_reason(len(to.links)))
        )
    return True


def _burst(to: Target, history: list[Any], at: dt.datetime) -> bool:
    """Whether every link of the campaign was clicked in the CLICK_BURST_SECONDS up to ``at``."""
    if len(to.links) < 2:
        return False  # one link clicked once is what a reader does
    since = at - dt.timedelta(seconds=CLICK_BURST_SECONDS)
    clicks = [(index, url) for kind, occurred_at, index, url in history if kind is EngagementKind.CLICK and since <= occurred_at <= at]
    numbers = {_link_number(to.links, index, url) for index, url in clicks}
    return len(numbers - {None}) >= len(to.links)


def provider_link(to: Target, url: str | None) -> tuple[int | None, str | None]:
    """The link number and URL of a click a provider reported: one of our click links stands for its stored URL.

    A provider that tracks clicks itself reports the link it rewrote, which is
    our click link when ours is tracked too; its token is never stored.
    """
    own = _OWN_CLICK.fullmatch(url or "")
    if own is not None:
        number = int(own.group(1))
        return (number, to.links[number]) if number < len(to.links) else (None, None)
    if url in to.links:
        return to.links.index(url), url
    return None, url


def _link_number(links: tuple[str, ...], index: int | None, url: str | None) -> int | None:
    """The tracked link a click was of: its number, or the number of the URL a provider reported."""
    if index is not None:
        return index
    return links.index(url) if url in links else None
