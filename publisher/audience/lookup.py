"""Finding subscribers and suppression entries by part of an address, for the console's search fields.

Results are bounded: a search for "e" must not load a million rows into a
page. The text is matched literally, so ``%`` and ``_`` typed by the user are
not wildcards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.audience.suppression_list import Entry
from publisher.audience.suppressions import known_hashes
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, MailingList, Subscriber, Suppression

#: Most rows a search returns; the page says when there may be more.
SEARCH_LIMIT = 100
#: Longest search text accepted (an address is at most 320 characters).
MAX_SEARCH = 320


@dataclass(frozen=True)
class SubscriberMatch:
    id: int
    email: str
    first_name: str
    last_name: str


def _pattern(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_subscribers(db: Database, text: str, limit: int = SEARCH_LIMIT) -> list[SubscriberMatch]:
    """Subscribers whose address contains ``text`` (case-insensitive), in address order, at most ``limit``."""
    if not text.strip():
        return []
    with db.transaction() as session:
        query = (
            select(Subscriber.id, Subscriber.email, Subscriber.first_name, Subscriber.last_name)
            .where(Subscriber.email.like(_pattern(text), escape="\\"))
            .order_by(Subscriber.email)
            .limit(limit)
        )
        return [SubscriberMatch(*row) for row in session.execute(query)]


def subscriber_address(db: Database, subscriber_id: int) -> str | None:
    """The address of the subscriber with this id, or None when there is none (erased, or never was)."""
    if not 0 < subscriber_id <= MAX_ID:  # past the column's range it would overflow the query's parameter
        return None
    with db.transaction() as session:
        return session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))


def find_suppressions(db: Database, text: str = "", limit: int = SEARCH_LIMIT) -> list[Entry]:
    """Entries whose address contains ``text``, newest first, at most ``limit``; every entry when ``text`` is empty.

    An erased entry keeps no address, only its hash: it is found when ``text``
    is the whole address.
    """
    with db.transaction() as session:
        query = select(Suppression, MailingList.name).outerjoin(MailingList, MailingList.id == Suppression.list_id)
        if text.strip():
            query = query.where(
                Suppression.email.like(_pattern(text), escape="\\") | Suppression.email_hash.in_(_hashes(session, text.strip().lower()))
            )
        rows = session.execute(query.order_by(Suppression.created_at.desc(), Suppression.id.desc()).limit(limit)).all()
        return [Entry(s.email, s.email_hash, name, s.reason, s.source, s.created_at) for s, name in rows]


def _hashes(session: Session, text: str) -> list[str]:
    return known_hashes(session, text) if "@" in text else []
