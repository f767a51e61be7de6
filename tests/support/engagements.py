"""A campaign with opens and clicks, written to the engagements ledger as the tracking routes and the webhooks leave them.

``seed_engagements`` builds one scenario that the report, the API and the
console tests all check: six recipients sent at ``FIRST``, tracked, with
human and machine opens and clicks from the app and from providers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from publisher.audience.subscribers import import_subscribers
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Delivery, DeliveryState, Engagement, EngagementKind, EventType
from publisher.feedback.recording import ProviderEvent, record_events
from tests.support.campaigns import publish

PEOPLE = [f"p{n}@example.com" for n in range(6)]
#: When the campaign went out: the timeline's buckets start at 14:00, the whole hour.
FIRST = dt.datetime(2026, 3, 2, 14, 23, 10, tzinfo=dt.UTC)
LINKS = ["https://modu.example/a", "https://modu.example/b", "https://modu.example/c"]


@dataclass(frozen=True)
class Engaged:
    campaign_id: int
    #: Delivery ids by address.
    ids: dict[str, int]


#: Why a machine's open or click was taken for one: a link scanner's click, or a privacy proxy fetching every pixel.
SCANNER = "scanner"
PROXY = "privacy proxy"


def engage(
    db: Database,
    campaign_id: int,
    delivery_ids: int | Iterable[int],
    kind: EngagementKind = EngagementKind.OPEN,
    at: dt.datetime | None = None,
    *,
    machine: bool = False,
    reason: str = SCANNER,
    source: str = "app",
    link_index: int | None = None,
    url: str | None = None,
) -> None:
    """Record an open (or click) of each delivery, one id or several, as the tracking routes and webhooks leave them.

    Human unless ``machine``, when ``reason`` is why it was taken for a
    machine's. ``at`` is now unless given (whatever time the test travelled
    to): an older one could be past NEWSLETTER_TRACKING_DAYS, and the sweep deletes it.
    """
    ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
    occurred = at or utcnow()
    with db.transaction() as session:
        session.add_all(
            Engagement(
                delivery_id=delivery_id,
                campaign_id=campaign_id,
                kind=kind,
                link_index=link_index,
                url=url,
                source=source,
                occurred_at=occurred,
                machine=machine,
                machine_reason=reason if machine else None,
            )
            for delivery_id in ids
        )


def provider_event(
    db: Database, settings: Settings, campaign_id: int, email: str, kind: EventType, at: dt.datetime, *, detail: str = ""
) -> None:
    """The provider's own open or click event for one recipient, recorded as its webhook records it."""
    with db.reading() as session:
        message_id = session.scalar(select(Delivery.message_id).where(Delivery.campaign_id == campaign_id, Delivery.email == email))
    with db.transaction() as session:
        event = ProviderEvent("postmark", kind, at, message_id=message_id, detail=detail, event_id=f"{kind.value}-{email}-{at.isoformat()}")
        assert record_events(session, settings, [event]).recorded == 1


def sent_campaign(db: Database, settings: Settings, tmp_path: Path, *, tracking: bool) -> Engaged:
    """Six recipients, all sent at FIRST; tracked with LINKS, or not tracked at all."""
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "\n".join(PEOPLE) + "\n", encoding="utf-8")
    import_subscribers(db, people, "attendees")
    campaign_id = publish(settings, db).id
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id).values(state=DeliveryState.SENT, sent_at=FIRST))
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(tracking=tracking, tracked_links=LINKS if tracking else None)
        )
        ids = dict(session.execute(select(Delivery.email, Delivery.id).where(Delivery.campaign_id == campaign_id)).all())
    return Engaged(campaign_id, ids)


def after(**delta: float) -> dt.datetime:
    return FIRST + dt.timedelta(**delta)


def seed_engagements(db: Database, settings: Settings, tmp_path: Path) -> Engaged:
    """The scenario (figures: 3 human openers, 2 machine-only; 3 human clickers, 1 machine-only).

    - p0: a privacy proxy's open at delivery, the reader's own 3 h later, then a click on link 0 (by its number only).
    - p1: opened after 30 minutes (seen by the pixel and by the provider), clicked link b after 35.
    - p2: only a proxy's open.
    - p3: a scanner clicked every link 20 seconds after delivery.
    - p4: a scanner clicked b, then the reader clicked b two days later, reported by the provider with its URL.
    - p5: nothing.
    """
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    cid, ids = seeded.campaign_id, seeded.ids
    p0, p1, p2, p3, p4, _ = (ids[email] for email in PEOPLE)
    engage(db, cid, p0, EngagementKind.OPEN, after(seconds=5), machine=True)
    engage(db, cid, p0, EngagementKind.OPEN, after(hours=3, minutes=10))
    engage(db, cid, p0, EngagementKind.CLICK, after(hours=3, minutes=20), link_index=0)
    engage(db, cid, p1, EngagementKind.OPEN, after(minutes=30))
    engage(db, cid, p1, EngagementKind.OPEN, after(minutes=31), source="postmark")
    engage(db, cid, p1, EngagementKind.CLICK, after(minutes=35), link_index=1, url=LINKS[1])
    engage(db, cid, p2, EngagementKind.OPEN, after(seconds=10), machine=True)
    for number, link in enumerate(LINKS):
        engage(db, cid, p3, EngagementKind.CLICK, after(seconds=20), machine=True, link_index=number, url=link)
    engage(db, cid, p4, EngagementKind.CLICK, after(minutes=1), machine=True, source="postmark", url=LINKS[1])
    engage(db, cid, p4, EngagementKind.CLICK, after(hours=50), source="postmark", url=LINKS[1])
    return seeded
