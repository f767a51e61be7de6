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

# The Standard Webhooks signer itself: svix's ``Webhook`` only forwards to it,
# and importing svix loads its whole API client (about 38 MB in every worker).
from standardwebhooks.webhooks import Webhook

from publisher.core.clock import utcnow
from publisher.core.fetching import FetchError, FetchPolicy, post
from publisher.core.settings import Settings
from publisher.core.text_rules import printable_line
from publisher.db.engine import Database
from publisher.outgoing_webhooks.messages import (
    CALL_MARGIN,
    Claimed,
    backoff,
    claim_due,
    record_failure,
    record_success,
    release,
    still_sendable,
)

log = logging.getLogger(__name__)

#: Seconds one task keeps calling (the visibility timeout may make it shorter: :func:`task_budget`);
#: what is left is for the next task or the sweep.
TASK_BUDGET = 120.0


@dataclass
class WebhookRun:
    delivered: int = 0
    failed: int = 0
    disabled: int = 0
    #: Messages claimed but not sent: their endpoint failed earlier in the run, was removed or disabled, or time ran out.
    held_back: int = 0
    disabled_endpoints: set[int] = field(default_factory=set)
    #: Endpoints that failed once in this run: their other messages wait for their backoff, uncalled and uncounted.
    failed_endpoints: set[int] = field(default_factory=set)


def task_budget(settings: Settings) -> float:
    """Seconds a task may start calls for: ending, last call included, before the broker hands the task to another worker."""
    return max(0.0, min(TASK_BUDGET, settings.visibility_timeout - settings.http_timeout - 2 * CALL_MARGIN))


def deliver_due(settings: Settings, db: Database, budget: float | None = None) -> WebhookRun:
    """Send every message that is due, a batch of claims at a time, until none is left or ``budget`` seconds have passed.

    After an endpoint's first failure in the run its other messages are not
    called: each waits for its own backoff, and the failure is counted once,
    so a short outage is one failure, not one per waiting message, and an
    endpoint that does not answer holds up the others for one timeout only.
    """
    policy = FetchPolicy(timeout=settings.http_timeout, max_bytes=settings.fetch_max_bytes, allow_loopback=settings.fetch_allow_loopback)
    run = WebhookRun()
    deadline = time.monotonic() + (task_budget(settings) if budget is None else budget)
    while time.monotonic() < deadline:
        claimed = claim_due(db, http_timeout=settings.http_timeout, skip_endpoints=run.failed_endpoints)
        if not claimed:
            break
        for message in claimed:
            if message.endpoint_id in run.failed_endpoints:
                # Its endpoint failed a moment ago: back to the message's own backoff, neither called nor counted.
                release(db, message, utcnow() + backoff(message.attempts))
            elif time.monotonic() >= deadline or not still_sendable(db, message, settings.http_timeout):
                # Out of time; or its claim is about to lapse, it was erased, or its endpoint was removed or
                # disabled: not called, and due again at once (if this worker still holds it).
                release(db, message, utcnow())
            else:
                send_one(settings, db, policy, message, run)
                continue
            run.held_back += 1
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
        error = f"HTTP {answer.status} {answer.reason}"
    # The endpoint wrote the reason phrase: one printable line, whatever it sent.
    error = printable_line(error)
    run.failed += 1
    run.failed_endpoints.add(message.endpoint_id)
    if record_failure(db, message, error, settings.webhook_disable_after):
        run.disabled += 1
        run.disabled_endpoints.add(message.endpoint_id)
        log.warning(
            "webhook endpoint %s disabled after %s failed calls in a row: %s", message.endpoint_id, settings.webhook_disable_after, error
        )
    else:
        log.info("webhook %s to endpoint %s failed (attempt %s): %s", message.message_id, message.endpoint_id, message.attempts + 1, error)
