"""A claim's holder keeps its records leased while it sends, or gives back those it will not send.

Both act only on records still ``sending`` under the attempt the claim took
them at, as recording results does: once a lease has run out, another claim
may hold the same records under the next attempt, and they are no longer
ours to renew or give back. A late renewal would stretch the new holder's
lease to the old worker's schedule; a late give-back would put records being
sent back to pending, for a second send.

A renewal says which records it found still held (``UPDATE … RETURNING
id``, in the same one statement): the holder sends only those. A record
missing from it was taken over by another claim, or put in doubt, while
this one was not looking (a stall past its lease); sending it would be the
second send the lease exists to prevent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, update

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState
from publisher.ledger.result_changes import DELIVERIES, HeldRecord


@dataclass(frozen=True)
class Renewal:
    #: When the lease of the records still held now runs out.
    lease_until: dt.datetime
    #: The ids of the records the claim still holds; the others are no longer its to send.
    held: frozenset[int]


def renew_lease(db: Database, records: Sequence[HeldRecord], lease: dt.timedelta) -> Renewal:
    """Push the lease of the records still held forward, before a provider call; say which those are and when it now runs out."""
    lease_until = utcnow() + lease
    with db.transaction() as session:
        # Core, not the ORM: the statement's RETURNING is all that is read back.
        held = session.scalars(update(DELIVERIES).where(_still_held(records)).values(lease_until=lease_until).returning(DELIVERIES.c.id))
        return Renewal(lease_until, frozenset(held))


def release_claim(db: Database, records: Sequence[HeldRecord]) -> None:
    """Give the records still held back untouched (the call was never made); the attempt does not count."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(_still_held(records))
            .values(state=DeliveryState.PENDING, attempts=Delivery.attempts - 1, lease_until=None, updated_at=utcnow())
        )


def _still_held(records: Sequence[HeldRecord]) -> ColumnElement[bool]:
    """The records ``sending`` under the attempt they were claimed at: one id list per attempt number (a batch has few)."""
    by_attempt: dict[int, list[int]] = defaultdict(list)
    for record in records:
        by_attempt[record.attempts].append(record.id)
    d = DELIVERIES.c
    held = [and_(d.id.in_(ids), d.attempts == attempts) for attempts, ids in by_attempt.items()]
    return and_(d.state == DeliveryState.SENDING, or_(false(), *held))
