"""Leaving lists: the one place a subscription becomes unsubscribed.

Used by the unsubscribe and preference pages, the one-click POST and the
providers' own unsubscribe events. Each call is idempotent. A campaign that
is already running skips the address from its next batch on, because the
workers check subscription status when they claim a batch.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from publisher.db.models import Subscription, SubscriptionStatus, utcnow


def leave_list(session: Session, subscriber_id: int, list_id: int) -> bool:
    """Unsubscribe from one list; return whether anything changed."""
    result = session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.list_id == list_id,
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def leave_all(session: Session, subscriber_id: int) -> int:
    """Unsubscribe from every list; return how many subscriptions changed."""
    result = session.execute(
        update(Subscription)
        .where(Subscription.subscriber_id == subscriber_id, Subscription.status != SubscriptionStatus.UNSUBSCRIBED)
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
