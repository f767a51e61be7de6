"""What we hold about one address, and erasing it on request.

The export gathers every row that names the address: the subscriber with
its subscriptions and their consent proof, the suppression entries (matched
by hash, so erased ones are included), the ledger records with their
provider events, and the opens and clicks recorded of those emails.

Erasure deletes the subscriber (and so its subscriptions) and anonymises
what must stay for the campaigns' figures: each ledger record's address
becomes a random placeholder, its error text and its events' details lose
the address, and suppression entries keep only the hash (keyed with
NEWSLETTER_SECRET_KEY: ``publisher.audience.suppressions``). A global hash-only
entry then makes sure the address is never mailed again, even if it is
imported later. Everything happens in one transaction; the outbox files of
the anonymised records are deleted after it commits. The outgoing webhook
messages about the person (their confirmations, unsubscribes, bounces and
complaints) are deleted, whether sent or still waiting. The opens and clicks
of the person's emails are deleted: a figure counted from them before goes
down by one, which is what forgetting someone means.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from publisher.audience.suppressions import add_entries, known_hashes
from publisher.db.engine import Database
from publisher.db.models import (
    ERASED_EMAIL_PREFIX,
    Campaign,
    ConsentEvent,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Engagement,
    Event,
    EventRegistrant,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from publisher.outgoing_webhooks.messages import forget_person

ERASED_REASON = "erased on request"
ERASED_SOURCE = "privacy"
#: Ledger records of an erased address carry this prefix and random hex: unique
#: per campaign, and not derived from the address, so the person's campaign
#: history cannot be found again even by someone who knows the address.
#: (Defined with the model, so that tracking, a sibling layer, reads the same one.)
PLACEHOLDER_PREFIX = ERASED_EMAIL_PREFIX
#: What an address inside a stored text (bounce message, error) is replaced with.
REDACTED = "[erased]"
#: Ledger states that would still lead to a send (now, by a resend, or a replay).
UNSENT_STATES = (DeliveryState.PENDING, DeliveryState.IN_DOUBT)


@dataclass(frozen=True)
class Erasure:
    email: str
    subscriber: bool
    subscriptions: int
    deliveries: int
    #: Records that were still to be sent and are now suppressed.
    stopped: int
    events: int
    suppressions: int
    #: Whether a global hash-only entry was added (False when one already applied).
    suppression_added: bool
    outbox_files: int = 0
    #: The erased subscriber's id (None when the address had no subscriber record): what the audit log names instead.
    subscriber_id: int | None = None
    #: Outgoing webhook messages about the person, deleted (sent or still waiting).
    webhook_messages: int = 0
    #: Opens and clicks of the person's emails, deleted.
    engagements: int = 0

    @property
    def held_anything(self) -> bool:
        return bool(self.subscriber or self.deliveries or self.suppressions)

    @property
    def summary(self) -> str:
        """What was erased, in counts only: the audit entry's detail, which must not name the address."""
        return (
            f"{self.subscriptions} subscription(s) deleted, {self.deliveries} delivery record(s) anonymised, "
            f"{self.events} event detail(s) cleared, {self.engagements} open(s) and click(s) deleted; suppressed everywhere by hash"
        )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(db: Database, email: str) -> dict[str, object] | None:
    """Everything held about a normalised address, as JSON-ready data; None when nothing names it."""
    with db.transaction() as session:
        digests = known_hashes(session, email)
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        suppressions = _export_suppressions(session, digests)
        deliveries, delivery_ids = _export_deliveries(session, _ledger_rows(email, subscriber.id if subscriber else None))
        if subscriber is None and not suppressions and not deliveries:
            return None
        return {
            "email": email,
            "email_hash": digests[0],
            "subscriber": _export_subscriber(subscriber) if subscriber else None,
            "subscriptions": _export_subscriptions(session, subscriber.id) if subscriber else [],
            "event_registrations": _export_registrations(session, subscriber.id) if subscriber else [],
            "suppressions": suppressions,
            "deliveries": deliveries,
            "opens_and_clicks": _export_engagements(session, delivery_ids),
        }


def _ledger_rows(email: str, subscriber_id: int | None) -> ColumnElement[bool]:
    if subscriber_id is None:
        return Delivery.email == email
    return or_(Delivery.email == email, Delivery.subscriber_id == subscriber_id)


def _export_subscriber(subscriber: Subscriber) -> dict[str, object]:
    return {
        "email": subscriber.email,
        "first_name": subscriber.first_name,
        "last_name": subscriber.last_name,
        "attributes": subscriber.attributes,
        "created_at": _iso(subscriber.created_at),
        "updated_at": _iso(subscriber.updated_at),
    }


def _export_subscriptions(session: Session, subscriber_id: int) -> list[dict[str, object]]:
    rows = session.execute(
        select(Subscription, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Subscription.id)
    ).all()
    return [
        {
            "list": name,
            "status": s.status.value,
            "source": s.source,
            "consented_at": _iso(s.consented_at),
            "consent_ip": s.consent_ip,
            "consent_user_agent": s.consent_user_agent,
            "confirmed_at": _iso(s.confirmed_at),
            "unsubscribed_at": _iso(s.unsubscribed_at),
            "created_at": _iso(s.created_at),
            "consent_history": _export_consent_history(session, s.id),
        }
        for s, name in rows
    ]


def _export_registrations(session: Session, subscriber_id: int) -> list[dict[str, object]]:
    rows = session.execute(
        select(EventRegistrant, Event.slug, Event.name, Event.source)
        .join(Event, Event.id == EventRegistrant.event_id)
        .where(EventRegistrant.subscriber_id == subscriber_id)
        .order_by(EventRegistrant.id)
    ).all()
    return [
        {
            "event": slug,
            "event_name": name,
            "source": source,
            "platform_id": r.platform_id,
            "registered_at": _iso(r.registered_at),
            "attendance": r.attendance.value,
            "checked_in_at": _iso(r.checked_in_at),
        }
        for r, slug, name, source in rows
    ]


def _export_consent_history(session: Session, subscription_id: int) -> list[dict[str, object]]:
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.subscription_id == subscription_id).order_by(ConsentEvent.id))
    return [
        {
            "action": e.action.value,
            "source": e.source,
            "ip": e.ip,
            "user_agent": e.user_agent,
            # The names a sign-up request gave (None for other steps and older requests).
            "first_name": e.first_name,
            "last_name": e.last_name,
            "at": _iso(e.created_at),
        }
        for e in events
    ]


def _export_suppressions(session: Session, digests: list[str]) -> list[dict[str, object]]:
    rows = session.execute(
        select(Suppression, MailingList.name)
        .outerjoin(MailingList, MailingList.id == Suppression.list_id)
        .where(Suppression.email_hash.in_(digests))
        .order_by(Suppression.id)
    ).all()
    return [
        {
            "email": s.email,
            "scope": "list" if s.list_id else "global",
            "list": name,
            "reason": s.reason,
            "source": s.source,
            "created_at": _iso(s.created_at),
        }
        for s, name in rows
    ]


def _export_engagements(session: Session, delivery_ids: list[int]) -> list[dict[str, object]]:
    """The opens and clicks of these deliveries: campaign, kind, when, the link, and the human or machine verdict."""
    if not delivery_ids:
        return []
    rows = session.execute(
        select(Engagement, Campaign.title)
        .join(Campaign, Campaign.id == Engagement.campaign_id)
        .where(Engagement.delivery_id.in_(delivery_ids))
        .order_by(Engagement.occurred_at, Engagement.id)
    ).all()
    return [
        {
            "campaign_id": e.campaign_id,
            "campaign_title": title,
            "kind": e.kind.value,
            "occurred_at": _iso(e.occurred_at),
            "url": e.url,
            "source": e.source,
            "verdict": "machine" if e.machine else "human",
            "machine_reason": e.machine_reason,
        }
        for e, title in rows
    ]


def _export_deliveries(session: Session, match: ColumnElement[bool]) -> tuple[list[dict[str, object]], list[int]]:
    rows = session.execute(
        select(Delivery, Campaign.title, MailingList.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .outerjoin(MailingList, MailingList.id == Campaign.list_id)
        .where(match)
        .order_by(Delivery.id)
    ).all()
    events: dict[int, list[dict[str, object]]] = {}
    if rows:
        query = select(DeliveryEvent).where(DeliveryEvent.delivery_id.in_([d.id for d, _, _ in rows])).order_by(DeliveryEvent.occurred_at)
        for event in session.scalars(query):
            events.setdefault(event.delivery_id, []).append(
                {"type": event.type.value, "provider": event.provider, "occurred_at": _iso(event.occurred_at), "detail": event.detail}
            )
    return [
        {
            "campaign_id": d.campaign_id,
            "campaign_title": title,
            "list": list_name,
            "email": d.email,
            "state": d.state.value,
            "attempts": d.attempts,
            "provider": d.provider,
            "message_id": d.message_id,
            "provider_message_id": d.provider_message_id,
            "last_error": d.last_error,
            "created_at": _iso(d.created_at),
            "sent_at": _iso(d.sent_at),
            "events": events.get(d.id, []),
        }
        for d, title, list_name in rows
    ], [d.id for d, _, _ in rows]


def erase(db: Database, email: str, outbox_dir: Path | None = None) -> Erasure:
    """Erase a normalised address and suppress it by hash everywhere, in one transaction.

    ``outbox_dir``: where the outbox provider wrote messages; those of the
    anonymised records are deleted too.
    """
    redact = re.compile(re.escape(email), re.IGNORECASE)
    with db.transaction() as session:
        digests = known_hashes(session, email)
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
        records = session.execute(
            select(Delivery.id, Delivery.campaign_id, Delivery.state, Delivery.last_error).where(_ledger_rows(email, subscriber_id))
        ).all()
        ids = [record.id for record in records]
        stopped = sum(record.state in UNSENT_STATES for record in records)
        for record in records:
            values: dict[str, object] = {"email": PLACEHOLDER_PREFIX + secrets.token_hex(8), "subscriber_id": None}
            if record.last_error:
                values["last_error"] = redact.sub(REDACTED, record.last_error)
            if record.state in UNSENT_STATES:
                values.update(state=DeliveryState.SUPPRESSED, last_error=ERASED_REASON, lease_until=None)
            # A dead letter replayed later would be sent to the placeholder.
            values["dead_lettered_at"] = None
            session.execute(update(Delivery).where(Delivery.id == record.id).values(**values))
        events = _clear_event_details(session, ids)
        engagements = _delete_engagements(session, ids)
        webhook_messages = forget_person(session, subscriber_id, ids)
        suppressions = _reduce_suppressions(session, email, digests, redact)
        subscriptions = 0
        if subscriber_id is not None:
            subscriptions = session.execute(delete(Subscription).where(Subscription.subscriber_id == subscriber_id)).rowcount  # type: ignore[attr-defined]
            session.execute(delete(EventRegistrant).where(EventRegistrant.subscriber_id == subscriber_id))
            session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
        # Skipped when the address already has an entry for every list (now reduced to its hash).
        entry = {"email": None, "email_hash": digests[0], "list_id": None, "reason": ERASED_REASON, "source": ERASED_SOURCE}
        added = add_entries(session, [entry]) == 1
    files = _delete_outbox_files(outbox_dir, [(record.campaign_id, record.id) for record in records]) if outbox_dir else 0
    return Erasure(
        email=email,
        subscriber=subscriber_id is not None,
        subscriptions=int(subscriptions),
        deliveries=len(ids),
        stopped=stopped,
        events=events,
        suppressions=suppressions,
        suppression_added=added,
        outbox_files=files,
        subscriber_id=subscriber_id,
        webhook_messages=webhook_messages,
        engagements=engagements,
    )


def _delete_engagements(session: Session, delivery_ids: list[int]) -> int:
    if not delivery_ids:
        return 0
    return int(getattr(session.execute(delete(Engagement).where(Engagement.delivery_id.in_(delivery_ids))), "rowcount", 0) or 0)


def _clear_event_details(session: Session, delivery_ids: list[int]) -> int:
    if not delivery_ids:
        return 0
    count = session.scalar(select(func.count()).where(DeliveryEvent.delivery_id.in_(delivery_ids), DeliveryEvent.detail != ""))
    session.execute(update(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(delivery_ids)).values(detail=""))
    return int(count or 0)


def _reduce_suppressions(session: Session, email: str, digests: list[str], redact: re.Pattern[str]) -> int:
    """Keep only the current keyed hash in the address's entries; return how many still held the address.

    Entries written under a retired key or before keys get the current hash
    too, so none is left that a plain SHA-256 of a guess would find. Should
    one scope hold two entries (hashed differently), one is kept.
    """
    query = select(Suppression).where(or_(Suppression.email_hash.in_(digests), Suppression.email == email)).order_by(Suppression.id)
    entries = session.scalars(query).all()
    held = sum(entry.email is not None for entry in entries)
    kept: dict[int | None, Suppression] = {}
    for entry in sorted(entries, key=lambda entry: entry.email is not None):  # an erased entry first: the one to keep
        if entry.list_id in kept:
            session.delete(entry)
        else:
            kept[entry.list_id] = entry
    session.flush()
    for entry in kept.values():
        entry.email = None
        entry.email_hash = digests[0]
        # Provider reasons quote bounce texts, which often contain the address.
        entry.reason = redact.sub(REDACTED, entry.reason)
    return held


def _delete_outbox_files(directory: Path, records: list[tuple[int, int]]) -> int:
    # Named as workers.providers.outbox names them: "<campaign id>-<delivery id>.eml".
    deleted = 0
    for campaign_id, delivery_id in records:
        path = directory / f"{campaign_id}-{delivery_id}.eml"
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted
