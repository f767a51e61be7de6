"""Deliver one batch: claim, personalise, send through the provider, record.

Plain functions over a ``WorkerContext``; the Celery task only calls
``deliver_batch`` and schedules the retry it asks for.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

from publisher.errors import RenderError
from publisher.links import UNSUBSCRIBE, VIEW, LinkTarget
from workers.context import WorkerContext
from workers.ledger import CampaignSnapshot, ClaimedDelivery, claim_batch, record_results
from workers.message import OutgoingEmail
from workers.providers.base import Outcome, SendResult
from workers.rendering.layout import RenderedIssue
from workers.rendering.personalize import Recipient

log = logging.getLogger(__name__)

BACKOFF_BASE = 5.0


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    #: Seconds after which the batch must be tried again; None when it is done.
    retry_in: float | None = None


def lease_for(ctx: WorkerContext) -> dt.timedelta:
    """Longer than the slowest provider call, so a live sender is never overtaken."""
    return dt.timedelta(seconds=max(120.0, ctx.settings.http_timeout * 6))


def deliver_batch(ctx: WorkerContext, batch_id: int, *, max_countdown: float) -> BatchOutcome:
    claim = claim_batch(ctx.db, batch_id, lease_for(ctx))
    if claim is None:
        return BatchOutcome()
    if not claim.deliveries:
        return BatchOutcome(retry_in=min(claim.busy_for, max_countdown) if claim.busy_for else None)
    provider = ctx.provider(claim.campaign.provider)
    campaign = claim.campaign
    issue = RenderedIssue(html=campaign.html_template, text=campaign.text_template, nonce=campaign.nonce)
    results: list[SendResult] = []
    emails: list[OutgoingEmail] = []
    for delivery in claim.deliveries:
        try:
            emails.append(compose(ctx, campaign, issue, delivery))
        except RenderError as exc:
            results.append(SendResult(delivery.id, outcome=Outcome.PERMANENT, error=f"render failed: {exc}"))
    for start in range(0, len(emails), provider.max_batch_size):
        results.extend(provider.send(emails[start : start + provider.max_batch_size]))
    summary = record_results(ctx.db, claim.campaign.id, results, ctx.settings.max_attempts)
    log.info("batch %s: %s sent, %s failed, %s to retry", batch_id, summary.sent, summary.failed, summary.retrying)
    retry_in = None
    if summary.retrying:
        retry_in = backoff(summary.max_attempts_seen, summary.retry_after, max_countdown)
    return BatchOutcome(sent=summary.sent, failed=summary.failed, retrying=summary.retrying, retry_in=retry_in)


def backoff(attempt: int, retry_after: float | None, cap: float) -> float:
    """Exponential backoff with full jitter, never shorter than Retry-After, never above ``cap``."""
    ceiling = min(cap, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    delay = random.uniform(1.0, max(1.0, ceiling))  # noqa: S311 (jitter, not cryptography)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def _has_line_break(value: str) -> bool:
    return any(char in value for char in "\r\n\x00")


def compose(ctx: WorkerContext, campaign: CampaignSnapshot, issue: RenderedIssue, delivery: ClaimedDelivery) -> OutgoingEmail:
    """Stage 2 for one recipient: fill the personal fields and build the email."""
    target = LinkTarget(delivery.subscriber_id, campaign.list_id, campaign.id)
    recipient = Recipient(
        email=delivery.email,
        first_name=delivery.first_name,
        last_name=delivery.last_name,
        unsubscribe_url=ctx.signer.url(UNSUBSCRIBE, target),
        view_url=ctx.signer.url(VIEW, target),
        attributes=delivery.attributes,
    )
    if _has_line_break(recipient.full_name):
        raise RenderError(f"the name of delivery {delivery.id} contains a line break; refusing to put it in a header")
    html, text = issue.personalise(recipient)
    return OutgoingEmail(
        delivery_id=delivery.id,
        campaign_id=campaign.id,
        message_id=delivery.message_id,
        sender=ctx.settings.from_address,
        to_address=delivery.email,
        to_name=recipient.full_name,
        subject=("[TEST] " if campaign.is_test else "") + campaign.subject,
        html=html,
        text=text,
        unsubscribe_url=recipient.unsubscribe_url,
        reply_to=ctx.settings.reply_to,
        is_test=campaign.is_test,
    )
