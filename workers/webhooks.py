"""Send the outgoing webhook messages that are due: sign each (Standard Webhooks), POST it, record the answer.

Each call carries ``webhook-id`` (the event's, the same on every attempt),
``webhook-timestamp`` (this attempt's, in Unix seconds) and
``webhook-signature`` (``v1,`` and the HMAC-SHA256 of ``id.timestamp.body``
under the endpoint's secret, made by svix, which implements the Standard
Webhooks scheme). The POST goes through :func:`publisher.core.fetching.post`,
so the endpoint's host is resolved and checked again at every call (a name
that now resolves to a private address is refused, DNS rebinding gains
nothing), redirects are not followed and the whole call ends after
NEWSLETTER_HTTP_TIMEOUT seconds. A 2xx answer delivers the message; any
other answer, a timeout, a refused address or a network error is a failed
attempt, retried later (``publisher.outgoing_webhooks.messages.BACKOFF``).
The secret is never logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from svix.webhooks import Webhook

from publisher.core.clock import utcnow
from publisher.core.fetching import FetchError, FetchPolicy, post
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.outgoing_webhooks.messages import Claimed, claim_due, record_failure, record_success

log = logging.getLogger(__name__)

#: Seconds one task keeps claiming due messages; what is left is for the next task or the sweep.
TASK_BUDGET = 120.0


@dataclass
class WebhookRun:
    delivered: int = 0
    failed: int = 0
    disabled: int = 0
    disabled_endpoints: set[int] = field(default_factory=set)


def deliver_due(settings: Settings, db: Database, budget: float = TASK_BUDGET) -> WebhookRun:
    """Send every message that is due, a batch of claims at a time, until none is left or ``budget`` seconds have passed."""
    policy = FetchPolicy(timeout=settings.http_timeout, max_bytes=settings.fetch_max_bytes, allow_loopback=settings.fetch_allow_loopback)
    run = WebhookRun()
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        claimed = claim_due(db)
        if not claimed:
            break
        for message in claimed:
            # An endpoint disabled a moment ago gets no more calls: its messages wait until it is enabled again.
            if message.endpoint_id not in run.disabled_endpoints:
                send_one(settings, db, policy, message, run)
    return run


def signed_headers(message: Claimed) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt at ``message``, signed now."""
    now = utcnow()
    signature = Webhook(message.secret).sign(message.message_id, now, message.payload)
    return {
        "Content-Type": "application/json",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def send_one(settings: Settings, db: Database, policy: FetchPolicy, message: Claimed, run: WebhookRun) -> None:
    try:
        answer = post(message.url, policy, message.payload.encode(), signed_headers(message))
    except FetchError as exc:
        error = str(exc)
    else:
        if answer.ok:
            record_success(db, message)
            run.delivered += 1
            log.info("webhook %s (%s) delivered to endpoint %s", message.message_id, message.event_type, message.endpoint_id)
            return
        error = f"HTTP {answer.status} {answer.reason}".strip()
    run.failed += 1
    if record_failure(db, message, error, settings.webhook_disable_after):
        run.disabled += 1
        run.disabled_endpoints.add(message.endpoint_id)
        log.warning(
            "webhook endpoint %s disabled after %s failed calls in a row: %s", message.endpoint_id, settings.webhook_disable_after, error
        )
    else:
        log.info("webhook %s to endpoint %s failed (attempt %s): %s", message.message_id, message.endpoint_id, message.attempts + 1, error)
