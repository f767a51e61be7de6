"""Provider events after the send: record them once, act on them at once.

Every webhook is turned into :class:`ProviderEvent` values by its provider's
module (after its signature was verified) and handed to :func:`record_events`.
An event is matched to its ledger record by our message id (random, so it
cannot be guessed), or by the delivery id we gave the provider as metadata
together with the provider's own id for that message; one that matches
nothing is reported back, not stored. A webhook delivered twice is stored once and acts
once.

What events do:

- a hard bounce or a complaint suppresses the address everywhere at once;
- soft bounces suppress it after NEWSLETTER_SOFT_BOUNCE_LIMIT of them;
- a provider-side unsubscribe unsubscribes it from the campaign's list;
- a bounce or a complaint is announced to the outgoing webhooks
  (``delivery.bounced``, ``delivery.complained``), in the same transaction;
- an open or a click of a tracked campaign is also an engagement
  (``publisher.tracking``), classified by the same rules as the web app's own,
  written in the same transaction and only when the event itself is new: a
  webhook delivered twice is one engagement, and the figures count each
  recipient once whether the pixel, the provider or both saw them.

An event is kept with the time the provider gives, or the time it arrived
when the provider's is later: the retention of opens and clicks goes by it.

An event about a record whose person was erased is stored without its
detail (bounce texts quote the address) and acts on nothing: the address is
suppressed by its hash already, and the record holds only a placeholder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.audience.lists import leave_audience
from publisher.audience.privacy import PLACEHOLDER_PREFIX
from publisher.audience.suppressions import suppress_address
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.models import Campaign, Delivery, DeliveryEvent, EngagementKind, EventType
from publisher.outgoing_webhooks.announce import announce, iso
from publisher.outgoing_webhooks.events import DELIVERY_BOUNCED, DELIVERY_COMPLAINED
from publisher.tracking.classify import Seen
from publisher.tracking.recording import Hit, is_own_click, provider_link, record, target, without_token

DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event, normalised. At least one of the three ids must be set."""

    provider: str
    type: EventType
    occurred_at: dt.datetime
    #: Our Message-ID (without angle brackets), when the provider echoes it back.
    message_id: str | None = None
    #: Our delivery id, from the metadata, tags or custom args we sent.
    delivery_id: int | None = None
    #: The provider's own id for the message (checked against the ledger).
    provider_message_id: str | None = None
    #: The provider's own id for this event, when it has one (for de-duplication).
    event_id: str | None = None
    #: A short human-readable reason: bounce description, clicked URL, …
    detail: str = ""
    #: The user agent of an open or click, when the provider reports it (classified, never stored).
    user_agent: str | None = None
    #: The provider's own verdict that an open was a machine's (SendGrid's ``sg_machine_open``).
    machine_open: bool = False

    def describe(self) -> str:
        ids = self.message_id or self.delivery_id or self.provider_message_id
        return f"{self.type.value} for {ids}"


@dataclass
class RecordReport:
    recorded: int = 0
    duplicates: int = 0
    #: Events that matched no delivery we sent, as "<type> for <id>".
    unknown: list[str] = field(default_factory=list)
    suppressed: int = 0
    unsubscribed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "unknown": self.unknown,
            "suppressed": self.suppressed,
            "unsubscribed": self.unsubscribed,
        }


def record_events(session: Session, settings: Settings, events: list[ProviderEvent]) -> RecordReport:
    """Store and act on ``events`` inside the caller's transaction."""
    report = RecordReport()
    for event in events:
        delivery = find_delivery(session, event)
        if delivery is None:
            report.unknown.append(event.describe())
            continue
        event = _without_token(session, delivery, event)
        key = dedupe_key(delivery, event)  # before the time is clamped: a webhook delivered again is the same event
        event = _no_later_than_now(event)
        if not _store(session, delivery, event, key):
            report.duplicates += 1
            continue
        report.recorded += 1
        if not _erased(delivery):
            suppressed = report.suppressed
            _act(session, settings, delivery, event, report)
            _announce(session, delivery, event, suppressed=report.suppressed > suppressed)
            _engage(session, delivery, event)
    return report


_ENGAGEMENTS = {EventType.OPENED: EngagementKind.OPEN, EventType.CLICKED: EngagementKind.CLICK}


def _engage(session: Session, delivery: Delivery, event: ProviderEvent) -> None:
    """Write a provider's open or click of a tracked campaign as an engagement (the event itself is new)."""
    kind = _ENGAGEMENTS.get(event.type)
    if kind is None:
        return
    to = target(session, delivery.campaign_id, delivery.id)
    if to is None or not to.recordable:
        return
    seen = Seen(kind, event.occurred_at, event.user_agent, provider_machine=event.machine_open and kind is EngagementKind.OPEN)
    number, url = provider_link(to, event.detail or None) if kind is EngagementKind.CLICK else (None, None)
    record(session, to, Hit(seen, source=event.provider, link_index=number, url=url))


def _without_token(session: Session, delivery: Delivery, event: ProviderEvent) -> ProviderEvent:
    """The event with our click link in its detail (a provider tracking clicks on top of ours) replaced by its stored URL."""
    if event.type is not EventType.CLICKED or not is_own_click(event.detail):
        return event
    links = session.scalar(select(Campaign.tracked_links).where(Campaign.id == delivery.campaign_id)) or ()
    return replace(event, detail=without_token(event.detail, links))


def _no_later_than_now(event: ProviderEvent) -> ProviderEvent:
    """The event, dated now if the provider dated it later: the retention of opens and clicks goes by their time."""
    now = utcnow()
    return replace(event, occurred_at=now) if event.occurred_at > now else event


_BOUNCES = {EventType.BOUNCED_HARD: "hard", EventType.BOUNCED_SOFT: "soft"}


def _announce(session: Session, delivery: Delivery, event: ProviderEvent, *, suppressed: bool) -> None:
    if event.type not in (*_BOUNCES, EventType.COMPLAINED):
        return
    data: dict[str, object] = {
        "campaign_id": delivery.campaign_id,
        "delivery_id": delivery.id,
        "email": delivery.email,
        "provider": event.provider,
        "occurred_at": iso(event.occurred_at),
        "detail": event.detail[:DETAIL_LIMIT],
        "suppressed": suppressed,
    }
    if event.type is not EventType.COMPLAINED:
        data["bounce"] = _BOUNCES[event.type]
    event_type = DELIVERY_COMPLAINED if event.type is EventType.COMPLAINED else DELIVERY_BOUNCED
    announce(session, event_type, data, subscriber_id=delivery.subscriber_id, delivery_id=delivery.id)


def find_delivery(session: Session, event: ProviderEvent) -> Delivery | None:
    """The ledger record an event is about, or None for a message we never sent."""
    if event.message_id:
        delivery = session.scalar(select(Delivery).where(Delivery.message_id == event.message_id.strip("<>")))
        if delivery is not None:
            return delivery
    if event.delivery_id is not None:
        delivery = session.get(Delivery, event.delivery_id)
        # The delivery id alone is a small integer anyone could guess: it
        # counts only together with the provider's id for the same message.
        if delivery is not None and _same_message(delivery, event):
            return delivery
        return None
    if event.provider_message_id:
        return session.scalar(
            select(Delivery).where(Delivery.provider_message_id == event.provider_message_id, Delivery.provider == event.provider).limit(1)
        )
    return None


def _same_message(delivery: Delivery, event: ProviderEvent) -> bool:
    if event.provider_message_id is None or delivery.provider_message_id is None:
        return False
    return delivery.provider_message_id == event.provider_message_id


def dedupe_key(delivery: Delivery, event: ProviderEvent) -> str:
    if event.event_id:
        return event.event_id[:200]
    fingerprint = f"{event.type.value}|{delivery.id}|{event.occurred_at.isoformat()}|{event.detail}"
    return "sha256:" + hashlib.sha256(fingerprint.encode()).hexdigest()


def _erased(delivery: Delivery) -> bool:
    return delivery.email.startswith(PLACEHOLDER_PREFIX)


def _store(session: Session, delivery: Delivery, event: ProviderEvent, key: str) -> bool:
    seen = select(DeliveryEvent.id).where(DeliveryEvent.provider == event.provider, DeliveryEvent.dedupe_key == key)
    if session.scalar(seen) is not None:
        return False
    row = DeliveryEvent(
        delivery_id=delivery.id,
        provider=event.provider,
        type=event.type,
        dedupe_key=key,
        occurred_at=event.occurred_at,
        detail="" if _erased(delivery) else event.detail[:DETAIL_LIMIT],
    )
    # Two deliveries of one webhook can race past the check above: the unique
    # constraint decides, and only the savepoint is rolled back.
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def _act(session: Session, settings: Settings, delivery: Delivery, event: ProviderEvent, report: RecordReport) -> None:
    source = f"webhook:{event.provider}"
    if event.type in (EventType.BOUNCED_HARD, EventType.COMPLAINED):
        reason = "hard bounce" if event.type is EventType.BOUNCED_HARD else "spam complaint"
        detail = f"{reason}: {event.detail}" if event.detail else reason
        report.suppressed += suppress_address(session, delivery.email, detail, source)
    elif event.type is EventType.BOUNCED_SOFT and _soft_bounces(session, delivery.email) >= settings.soft_bounce_limit:
        reason = f"{settings.soft_bounce_limit} soft bounces (last: {event.detail or 'no detail'})"
        report.suppressed += suppress_address(session, delivery.email, reason, source)
    elif event.type is EventType.UNSUBSCRIBED and delivery.subscriber_id is not None:
        list_id = session.scalar(select(Campaign.list_id).where(Campaign.id == delivery.campaign_id))
        if list_id is not None:
            report.unsubscribed += leave_audience(session, delivery.subscriber_id, list_id)


def _soft_bounces(session: Session, email: str) -> int:
    query = (
        select(func.count())
        .select_from(DeliveryEvent)
        .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
        .where(Delivery.email == email, DeliveryEvent.type == EventType.BOUNCED_SOFT)
    )
    return int(session.scalar(query) or 0)
