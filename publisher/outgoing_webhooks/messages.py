"""The senders' side: claim the messages that are due, record each answer, back off, disable an endpoint that keeps failing.

A message is due when its ``next_attempt_at`` has come and its endpoint is
enabled. Claiming it moves ``next_attempt_at`` ahead by the time the whole
batch may take (:func:`claim_seconds`; rows locked, skipping those another
sender holds), so two workers never send it at once, and one that dies
holding it only delays it: the claim lapses and it is due again. Just before
each call the sender checks that it still holds the message, with time left
for the call, and that the endpoint is still there and enabled
(:func:`still_sendable`); what it does not send it hands back
(:func:`release`). Each failure pushes a message back along :data:`BACKOFF`;
a message still failing :data:`MAX_AGE` after it was written is given up on
(``failed_at``). Each failure of an endpoint counts, each success resets the
count, and NEWSLETTER_WEBHOOK_DISABLE_AFTER failures in a row disable the
endpoint with the last one as the reason. Messages wait while their
endpoint is disabled and are due again when it is enabled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.core.text_rules import printable_line
from publisher.db.engine import Database
from publisher.db.models import WebhookEndpoint, WebhookMessage

#: Seconds to wait after the 1st, 2nd, … failed attempt of a message; the last one repeats.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
#: Messages claimed at once.
CLAIM_BATCH = 20
#: Seconds a call may take beyond NEWSLETTER_HTTP_TIMEOUT: checking the address, recording the answer.
CALL_MARGIN = 5.0
#: A message still failing this long after it was written is given up on (as svix does): marked failed, never tried again.
MAX_AGE = dt.timedelta(days=5)
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
    #: Until when this worker holds it: its ``next_attempt_at`` as the claim wrote it.
    held_until: dt.datetime

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


def claim_seconds(http_timeout: float, limit: int = CLAIM_BATCH) -> float:
    """How long a claim of ``limit`` messages is held: long enough to call each of them in turn."""
    return limit * (http_timeout + CALL_MARGIN)


def claim_due(
    db: Database,
    now: dt.datetime | None = None,
    limit: int = CLAIM_BATCH,
    *,
    http_timeout: float = 10.0,
    skip_endpoints: Collection[int] = (),
) -> list[Claimed]:
    """Claim up to ``limit`` due messages, oldest first, for :func:`claim_seconds`; none of ``skip_endpoints``."""
    now = now or utcnow()
    held_until = now + dt.timedelta(seconds=claim_seconds(http_timeout, limit))
    with db.transaction() as session:
        query = (
            select(WebhookMessage, WebhookEndpoint.url, WebhookEndpoint.secret)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(*_due(now))  # type: ignore[arg-type]
            .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
            .limit(limit)
            .with_for_update(of=WebhookMessage, skip_locked=True)
        )
        if skip_endpoints:
            query = query.where(WebhookMessage.endpoint_id.not_in(list(skip_endpoints)))
        claimed = []
        for message, url, secret in session.execute(query).all():
            message.next_attempt_at = held_until
            claimed.append(
                Claimed(
                    message.id,
                    message.endpoint_id,
                    url,
                    secret,
                    message.message_id,
                    message.event_type,
                    message.payload,
                    message.attempts,
                    held_until,
                )
            )
        return claimed


def still_sendable(db: Database, claimed: Claimed, http_timeout: float, now: dt.datetime | None = None) -> bool:
    """Whether ``claimed`` may be sent now: still held by this worker with time for the call, not erased, its endpoint there and enabled.

    One read by primary key, just before the call: the claim may be about to
    lapse (another worker may take it then), and the endpoint may have been
    removed or disabled, or the person the message is about erased, since the claim.
    """
    now = now or utcnow()
    if now + dt.timedelta(seconds=http_timeout + CALL_MARGIN) > claimed.held_until:
        return False
    with db.reading() as session:
        found = session.execute(
            select(WebhookEndpoint.disabled_at)
            .join(WebhookMessage, WebhookMessage.endpoint_id == WebhookEndpoint.id)
            .where(
                WebhookMessage.id == claimed.id,
                WebhookMessage.delivered_at.is_(None),
                WebhookMessage.next_attempt_at == claimed.held_until,
            )
        ).first()
        return found is not None and found.disabled_at is None


def release(db: Database, claimed: Claimed, until: dt.datetime) -> bool:
    """Hand back a message not sent: due again at ``until``, its attempts not counted; False if this worker no longer held it."""
    with db.transaction() as session:
        result = session.execute(
            update(WebhookMessage)
            .where(
                WebhookMessage.id == claimed.id,
                WebhookMessage.delivered_at.is_(None),
                WebhookMessage.next_attempt_at == claimed.held_until,
            )
            .values(next_attempt_at=until)
        )
        return bool(getattr(result, "rowcount", 0))


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
    error = printable_line(error)[:ERROR_LIMIT]
    with db.transaction() as session:
        message = session.get(WebhookMessage, claimed.id, with_for_update=True)
        if message is None or message.delivered_at is not None:
            return False  # removed with its endpoint meanwhile, or sent by another worker after a lapsed claim
        message.attempts += 1
        message.last_error = error
        if now - message.created_at >= MAX_AGE:
            # Given up on: kept (and counted by `webhooks list`) until the retention ends, never tried again.
            message.failed_at = now
            message.next_attempt_at = None
        else:
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
