"""Write one open or click of one delivery, classified, in the caller's transaction.

The web app's pixel and redirects and the providers' webhooks both come
here, so an open is judged by the same rules whoever saw it. A click that
completes a burst (every link of the message within seconds) turns the
burst's earlier clicks machine too: they were human only until the last one
showed what they were.

A click answers within milliseconds, so nothing here loads a whole row:
the campaign's stored issue alone is tens of kilobytes. ``target`` reads the
few columns needed in one query, and the statements are built once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from publisher.db.models import ERASED_EMAIL_PREFIX, Campaign, Delivery, Engagement, EngagementKind
from publisher.tracking.classify import CLICK_BURST_SECONDS, Seen, burst_reason, machine_reason

#: Engagements kept per delivery: a token replayed in a loop keeps working (the
#: link still leads to its page) but stops writing rows past this many.
MAX_PER_DELIVERY = 200
#: A click link of ours, as a provider that tracks clicks too reports it.
_OWN_CLICK = re.compile(r"https?://[^/]+(?:/[^?#]*)?/t/c/([0-9]{1,6})\.[A-Za-z0-9_.\-]+")
ENGAGEMENTS = Engagement.metadata.tables[Engagement.__tablename__]
DELIVERIES = Delivery.metadata.tables[Delivery.__tablename__]


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
# The statements below name the tables, not the mapped classes: Core
# statements skip the ORM's per-execution work (``target`` runs first, as an
# ORM statement, and flushes the session for them).
_E = ENGAGEMENTS.c
#: How many engagements the delivery has, and whether one of them is a reader's open at or before the time given
#: (a machine's open, a proxy's prefetch, says nothing about whether a reader saw the message before clicking).
_READER_OPEN = and_(_E.kind == EngagementKind.OPEN, _E.machine.is_(False), _E.occurred_at <= bindparam("at"))
_HISTORY = select(func.count(), func.max(case((_READER_OPEN, 1), else_=0))).where(_E.delivery_id == bindparam("delivery_id"))
#: The delivery's clicks between two times.
_IN_WINDOW = and_(
    _E.delivery_id == bindparam("delivery"),  # not "delivery_id": an UPDATE keeps column names for its SET values
    _E.kind == EngagementKind.CLICK,
    _E.occurred_at >= bindparam("since"),
    _E.occurred_at <= bindparam("at"),
)
_WINDOW = select(_E.link_index, _E.url, _E.machine, _E.occurred_at).where(_IN_WINDOW)
#: Those clicks not yet marked, marked machine with the burst's reason.
_MARK = update(ENGAGEMENTS).where(_IN_WINDOW, _E.machine.is_(False)).values(machine=True, machine_reason=bindparam("reason"))
_INSERT = insert(ENGAGEMENTS)
#: The delivery's row, locked until the transaction ends: recordings of one delivery take turns (below).
#: FOR NO KEY UPDATE on PostgreSQL: it still excludes another recording, but not the key-share locks other
#: transactions take on the row by inserting rows that refer to it (a provider's events, say).
_LOCK = select(DELIVERIES.c.id).where(DELIVERIES.c.id == bindparam("delivery_id")).with_for_update(key_share=True)


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
        erased=row.id is not None and row.email.startswith(ERASED_EMAIL_PREFIX),
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
    """Classify and add the engagement; False when it is not recordable or the delivery has MAX_PER_DELIVERY already.

    The delivery's row locked, then two aggregate reads, whatever the
    delivery's history: its count and whether it was opened before, then,
    for a click, the clicks of its burst window.
    """
    if to.delivery_id is None or to.erased:
        return False
    seen = hit.seen
    # Each recording reads the delivery's history, then writes by it (the cap,
    # the burst). On PostgreSQL two transactions at once would each miss the
    # other's uncommitted row: a scanner's parallel clicks would never make a
    # burst, and the cap could be passed. Locking the delivery makes the second
    # wait for the first to commit. SQLite's BEGIN IMMEDIATE serialises writers
    # already (and ignores FOR UPDATE).
    session.execute(_LOCK, {"delivery_id": to.delivery_id})
    count, opened = session.execute(_HISTORY, {"delivery_id": to.delivery_id, "at": seen.occurred_at}).one()
    if count >= MAX_PER_DELIVERY:
        return False
    reason = machine_reason(seen, to.sent_at, opened_before=bool(opened))
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
    if seen.kind is EngagementKind.CLICK and len(to.links) >= 2:
        _mark_burst(session, to, seen.occurred_at)
    return True


def _mark_burst(session: Session, to: Target, at: dt.datetime) -> None:
    """Mark machine the clicks of every window of CLICK_BURST_SECONDS around ``at`` in which every link of the campaign was clicked.

    The windows are the ones that hold ``at``: a click recorded now may be
    older than clicks recorded before it (parallel requests take turns for
    the delivery's lock in any order), so they may end after it.
    """
    width = dt.timedelta(seconds=CLICK_BURST_SECONDS)
    near = {"delivery": to.delivery_id, "since": at - width, "at": at + width}
    clicks = sorted(session.execute(_WINDOW, near).all(), key=lambda click: click.occurred_at)
    wanted = len(to.links)
    first, last = _burst_span(clicks, [_link_number(to.links, c.link_index, c.url) for c in clicks], wanted, at, width)
    if first is None or last is None or all(click.machine for click in clicks if first <= click.occurred_at <= last):
        return
    session.execute(_MARK, {"delivery": to.delivery_id, "since": first, "at": last, "reason": burst_reason(wanted)})


def _burst_span(
    clicks: Sequence[Any], numbers: Sequence[int | None], wanted: int, at: dt.datetime, width: dt.timedelta
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The earliest start and latest end of the windows holding ``at`` in which all ``wanted`` links were clicked.

    ``clicks`` are in time order; one pass with a window sliding over them.
    """
    seen: Counter[int] = Counter()
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    end = 0
    for start, click in enumerate(clicks):
        if click.occurred_at > at:
            break
        while end < len(clicks) and clicks[end].occurred_at <= click.occurred_at + width:
            entering = numbers[end]
            if entering is not None:
                seen[entering] += 1
            end += 1
        if len(seen) == wanted:
            first = click.occurred_at if first is None else first
            last = click.occurred_at + width
        number = numbers[start]
        if number is not None:
            seen[number] -= 1
            if not seen[number]:
                del seen[number]
    return first, last


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


def is_own_click(url: str) -> bool:
    """Whether ``url`` is one of our click links, token and all."""
    return _OWN_CLICK.fullmatch(url) is not None


def without_token(url: str, links: Sequence[str]) -> str:
    """``url`` with our click link, if it is one, replaced by the stored URL it stands for.

    A provider's click event is stored and exported with the link it saw;
    our click link's token names the reader, so it is never kept: the link
    becomes its campaign's stored URL, or, for a number the campaign does not
    have, the link less its token.
    """
    own = _OWN_CLICK.fullmatch(url)
    if own is None:
        return url
    number = int(own.group(1))
    return links[number] if number < len(links) else url[: own.end(1)]


def _link_number(links: tuple[str, ...], index: int | None, url: str | None) -> int | None:
    """The tracked link a click was of: its number, or the number of the URL a provider reported."""
    if index is not None:
        return index
    return links.index(url) if url in links else None
