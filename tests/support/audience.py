"""An audience for the tests: the example subscribers imported into a list, and their subscription statuses."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from publisher.audience.subscribers import import_subscribers
from publisher.db.engine import Database
from publisher.db.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.support.paths import EXAMPLES

CSV = EXAMPLES / "subscribers.csv"
ZOE = "zoe.obrien@example.com"
RAJ = "raj.patel@example.org"


def people(db: Database, csv: Path = CSV, list_name: str = "attendees") -> dict[str, int]:
    """Import ``csv`` into ``list_name``; return subscriber ids by address."""
    import_subscribers(db, csv, list_name)
    with db.transaction() as session:
        return {email: sid for sid, email in session.execute(select(Subscriber.id, Subscriber.email))}


def list_id(db: Database, name: str) -> int:
    with db.transaction() as session:
        found = session.scalar(select(MailingList.id).where(MailingList.name == name))
    assert found is not None
    return found


def statuses(db: Database, subscriber_id: int) -> dict[str, SubscriptionStatus]:
    """The subscriber's subscription status by list name."""
    with db.transaction() as session:
        rows = session.execute(
            select(MailingList.name, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(Subscription.subscriber_id == subscriber_id)
        )
        return {name: SubscriptionStatus(status) for name, status in rows}
