"""The senders' side: claim the messages that are due, record each answer, back off, disable an endpoint that keeps failing.

A message is due when its ``next_attempt_at`` has come and its endpoint is
enabled. Claiming it moves ``next_attempt_at`` a lease ahead (rows locked,
skipping those another sender holds), so two workers never send it at once,
and one that dies holding it only delays it: the lease lapses and it is due
again. Each failure pushes it back along :data:`BACKOFF`; each failure of an
endpoint counts, each success resets the count, and NEWSLETTER_WEBHOOK_DISABLE_AFTER
failures in a row disable the endpoint with the last one as the reason.
Messages wait while their endpoint is disabled and are due again when it is enabled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import WebhookEndpoint, WebhookMessage

#: Seconds to wait after the 1st, 2nd, … failed attempt of a message; the last one repeats.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
#: How long a claimed message is held for the worker sending it (longer than any call may take).
CLAIM_SECONDS = 300
#: Messages claimed at once.
CLAIM_BATCH = 20
ERROR_LIMIT = 500
#: How long a delivered (or given up) message is kept, for `webhooks list` and for looking into a complaint; the sweep deletes it then.
RETENTION = dt.timedelta(days=30)


@dataclass(frozen=True)
class Claimed:
    """A message a worker holds: what it sends, and where."""

    id: int
    endpoint_id: int
    url: str
    secret: str
    message_id: str
    event_type: str
    payload: str
    attempts: int

    def __repr__(self) -> str:
        # Never the secret, wherever this ends up printed.
        return f"Claimed(id={self.id}, endpoint_id={self.endpoint_id}, message_id={self.message_id!r}, attempts={self.attempts})"


def backoff(failures: int) -> dt.timedelta:
    """How long to wait after the ``failures``-th failed attempt of a message."""
    return dt.timedelta(seconds=BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1])


def _due(now: dt.datetime) -> tuple[object, ...]:
    return (
        WebhookMessage.delivered_at.is_(None),
        WebhookMessage.next_attempt_at <= now,
        WebhookEndpoint.disabled_at.is_(None),
    )


def claim_due(db: Database, now: dt.datetime | None = None, limit: int = CLAIM_BATCH) -> list[Claimed]:
    """Claim up to ``limit`` due messages, oldest first, for ``CLAIM_SECONDS``."""
    now = now or utcnow()
    with db.transaction() as session:
        rows = session.execute(
            select(WebhookMessage, WebhookEndpoint.url, WebhookEndpoint.secret)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(*_due(now))  # type: ignore[arg-type]
            .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
            .limit(limit)
            .with_for_update(of=WebhookMessage, skip_locked=True)
        ).all()
        claimed = []
        for message, url, secret in rows:
            message.next_attempt_at = now + dt.timedelta(seconds=CLAIM_SECONDS)
            claimed.append(
                Claimed(
                    message.id, message.endpoint_id, url, secret, message.message_id, message.event_type, message.payload, message.attempts
                )
            )
        return claimed


def any_due(db: Database, now: dt.datetime | None = None) -> bool:
    """Whether a message is due: the sweep's question."""
    now = now or utcnow()
    with db.reading() as session:
        found = session.scalar(
            select(WebhookMessage.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(*_due(now))  # type: ignore[arg-type]
            .limit(1)
        )
        return found is not None


def record_success(db: Database, claimed: Claimed, now: dt.datetime | None = None) -> None:
    """The endpoint answered 2xx: the message is delivered and the endpoint's failures are forgotten."""
    now = now or utcnow()
    with db.transaction() as session:
        session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id == claimed.id)
            .values(delivered_at=now, next_attempt_at=None, attempts=WebhookMessage.attempts + 1, last_error=None)
        )
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == claimed.endpoint_id).values(consecutive_failures=0, last_success_at=now)
        )


def record_failure(db: Database, claimed: Claimed, error: str, disable_after: int, now: dt.datetime | None = None) -> bool:
    """The call failed (``error`` says how): back the message off, count the failure; return whether the endpoint was disabled now."""
    now = now or utcnow()
    error = " ".join(error.split())[:ERROR_LIMIT]
    with db.transaction() as session:
        message = session.get(WebhookMessage, claimed.id, with_for_update=True)
        if message is None or message.delivered_at is not None:
            return False  # removed with its endpoint meanwhile, or sent by another worker after a lapsed claim
        message.attempts += 1
        message.last_error = error
        message.next_attempt_at = now + backoff(message.attempts)
        # FOR NO KEY UPDATE: a transaction announcing an event (FOR KEY SHARE) is not waited for.
        endpoint = session.get(WebhookEndpoint, claimed.endpoint_id, with_for_update={"key_share": True})
        if endpoint is None:
            return False
        endpoint.consecutive_failures += 1
        endpoint.last_failure_at = now
        endpoint.last_error = error
        if endpoint.disabled_at is None and endpoint.consecutive_failures >= disable_after:
            endpoint.disabled_at = now
            endpoint.disabled_reason = f"{endpoint.consecutive_failures} failed calls in a row; the last: {error}"[:ERROR_LIMIT]
            return True
        return False


def forget_person(session: Session, subscriber_id: int | None, delivery_ids: list[int]) -> int:
    """Delete every message about a person being erased (sent or not: a payload names them); return how many.

    In the erasure's transaction: what was still waiting is never sent, and
    what was sent leaves no copy of their address, names or bounce text here.
    A message a worker holds at this moment is checked again just before its
    call (:func:`still_sendable`) and is not sent.
    """
    about = []
    if subscriber_id is not None:
        about.append(WebhookMessage.subscriber_id == subscriber_id)
    if delivery_ids:
        about.append(WebhookMessage.delivery_id.in_(delivery_ids))
    if not about:
        return 0
    return int(getattr(session.execute(delete(WebhookMessage).where(or_(*about))), "rowcount", 0) or 0)


def prune(db: Database, now: dt.datetime | None = None) -> int:
    """Delete the messages delivered or given up on more than :data:`RETENTION` ago (the sweep's part); return how many."""
    cutoff = (now or utcnow()) - RETENTION
    with db.transaction() as session:
        old = or_(WebhookMessage.delivered_at < cutoff, WebhookMessage.failed_at < cutoff)
        return int(getattr(session.execute(delete(WebhookMessage).where(old)), "rowcount", 0) or 0)
