"""Deliver one batch: claim, personalise, send through the provider, record.

Plain functions over a ``WorkerContext``; the Celery task only calls
``deliver_batch`` and schedules the retry it asks for.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import time
from dataclasses import dataclass

import orjson

from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.personalize import TRACK_FIELD, Recipient
from publisher.core.clock import utcnow
from publisher.core.errors import ConfigurationError, RenderError
from publisher.core.links import CONFIRM, UNSUBSCRIBE, VIEW, LinkTarget
from publisher.core.message import JsonText, OutgoingEmail
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.signals import Halt
from publisher.core.text_rules import describe_character, first_control_character
from publisher.ledger.claims import (
    CampaignSnapshot,
    Claim,
    ClaimedDelivery,
    ProviderChoice,
    claim_batch_for,
    error_rate,
    pause_campaign,
    record_results,
)
from publisher.ledger.leases import release_claim, renew_lease
from workers.delivery import metrics
from workers.delivery.context import WorkerContext
from workers.delivery.rate_limit import CallCost
from workers.providers.base import Provider

log = logging.getLogger(__name__)

BACKOFF_BASE = 5.0
#: The share of its lease a claim must still have for a provider call to go without renewing it first.
RENEW_BELOW = 0.9
#: Halts only an operator can lift: the campaign pauses with this reason and its records wait.
OPERATOR_HALTS = {
    Halt.CREDENTIALS: "{provider} rejected the credentials; fix them, then resume: {error}",
    Halt.SENDER: "{error}; fix it, then resume",
}
#: The personal field of a double opt-in email: only templates with it get a confirm token signed.
CONFIRM_FIELD = "confirm_url"


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    #: Seconds after which the batch must be tried again; None when it is done.
    retry_in: float | None = None


def lease_for(ctx: WorkerContext) -> dt.timedelta:
    """Longer than the slowest provider call, so a live sender is never overtaken."""
    return dt.timedelta(seconds=max(ctx.settings.lease_seconds, ctx.settings.http_timeout * 6))


def deliver_batch(ctx: WorkerContext, batch_id: int, *, max_countdown: float) -> BatchOutcome:
    claim = _claim(ctx, batch_id)
    if claim is None:
        return BatchOutcome()
    if not claim.deliveries:
        return BatchOutcome(retry_in=claim.busy_for)
    name = claim.provider
    provider = ctx.provider(name)
    campaign = claim.campaign
    issue = RenderedIssue(html=campaign.html_template, text=campaign.text_template, nonce=campaign.nonce)
    results: list[SendResult] = []
    emails: list[OutgoingEmail] = []
    try:
        confirm, track = CONFIRM_FIELD in issue.fields, TRACK_FIELD in issue.fields
    except RenderError:
        confirm = track = False  # every record fails to render below, each with the reason
    # The subjects are the campaign's (one per subject test variant): checked once for the batch, not per recipient.
    subject_faults = [header_fault("subject", subject) for subject in campaign.subjects]
    for delivery in claim.deliveries:
        try:
            if (subject_fault := subject_faults[(delivery.variant or 1) - 1]) is not None:
                raise RenderError(subject_fault)
            # Kept in the provider's wire form where it has one, so the batch's bodies die one by one.
            email = compose(ctx, campaign, issue, delivery, confirm=confirm, track=track, json_bodies=provider.json_bodies)
            emails.append(provider.keep(email))
        except RenderError as exc:
            results.append(SendResult(delivery.id, outcome=Outcome.PERMANENT, error=f"render failed: {exc}"))
    sent_results, released = _send_chunks(ctx, provider, f"newsletter-{campaign.id}-{batch_id}", emails, claim)
    results.extend(sent_results)
    ctx.state.observe(name, results)
    summary = record_results(ctx.db, claim, results, ctx.settings.max_attempts, idempotent=provider.idempotent)
    _log_outcomes(campaign.id, batch_id, name, summary.sent, summary.failed, summary.retrying)
    metrics.record(name, sent=summary.sent, failed=summary.failed, retried=summary.retrying)
    reason = next((OPERATOR_HALTS[r.halt].format(provider=name, error=r.error) for r in results if r.halt in OPERATOR_HALTS), None)
    if reason is not None:
        pause_campaign(ctx.db, campaign.id, reason)
        log.error("campaign %s paused: %s", campaign.id, reason)
        return BatchOutcome(sent=summary.sent, failed=summary.failed, retrying=summary.retrying)
    if summary.failed:
        # Only a batch with failures can raise the rate: a clean one skips
        # the count, which reads every finished record of the campaign.
        _pause_on_error_rate(ctx, campaign.id)
    retry_in = None
    if summary.retrying:
        wait = max(summary.retry_after or 0.0, ctx.state.paused_for(name)) or None
        retry_in = backoff(summary.max_attempts_seen, wait, max_countdown)
    if released:
        retry_in = min(retry_in or max_countdown, max_countdown)
    return BatchOutcome(sent=summary.sent, failed=summary.failed, retrying=summary.retrying, retry_in=retry_in)


def _claim(ctx: WorkerContext, batch_id: int) -> Claim | None:
    """Claim the batch for the provider its campaign is to use now.

    The choice reads Redis (circuits, pauses), so it is made before the
    claim's transaction, never inside SQLite's write lock: for the provider
    the campaign most likely has (the last one seen, else the deployment's).
    A campaign on another one claims nothing the first time, and is claimed
    again with a choice for its own.
    """
    guess = ctx.last_primary or ctx.settings.provider
    claim = None
    for _ in range(2):
        seen: list[str] = []
        claim = claim_batch_for(ctx.db, batch_id, lease_for(ctx), functools.partial(_chosen, guess, choose_provider(ctx, guess), seen))
        if not seen or seen[0] == guess:
            return claim
        guess = ctx.last_primary = seen[0]
    return claim  # its provider changed again meanwhile: nothing claimed, and a retry at once


def _chosen(guess: str, choice: ProviderChoice, seen: list[str], primary: str) -> ProviderChoice:
    # In the claim's transaction: the choice made before it, if it was for the campaign's provider.
    seen.append(primary)
    return choice if primary == guess else ProviderChoice(primary, wait=0.0)


def choose_provider(ctx: WorkerContext, primary: str) -> ProviderChoice:
    """The provider to claim a batch of a campaign sending through ``primary`` for: the fallback while its circuit is open."""
    name = ctx.state.choose(primary)
    paused = ctx.state.paused_for(name)
    if paused:
        return ProviderChoice(name, wait=max(paused, 1.0))
    try:
        provider = ctx.provider(name)
    except ConfigurationError as exc:
        # Published with a provider this worker has no settings for: say so
        # in `status` instead of retrying for ever.
        return ProviderChoice(name, refusal=f"workers cannot use {name}: {exc}")
    return ProviderChoice(name, idempotent=provider.idempotent)


def backoff(attempt: int, retry_after: float | None, cap: float) -> float:
    """Exponential backoff with full jitter (at most ``cap``), never shorter than Retry-After.

    A Retry-After beyond ``cap`` is returned as it is: the task then leaves
    the wait to the ledger instead of keeping a long ETA message in Redis.
    """
    ceiling = min(cap, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    delay = random.uniform(1.0, max(1.0, ceiling))  # noqa: S311 (jitter, not cryptography)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _send_chunks(
    ctx: WorkerContext, provider: Provider, batch_key: str, emails: list[OutgoingEmail], claim: Claim
) -> tuple[list[SendResult], int]:
    """Send the claim's ``emails`` in provider-sized calls within the shared rate limit; return the results and how many were given back.

    Only records the claim still holds are sent, and only they have a result:
    one another claim took over after this one's lease ran out (a stall) is
    left out of every call from the renewal that found it gone.
    """
    results: list[SendResult] = []
    lease = _Lease(ctx, claim)
    for start in range(0, len(emails), provider.max_batch_size):
        # The chunks stay where the claim put them (a chunk's idempotency key
        # is its recipients'); records found gone are only taken out of them.
        chunk = lease.still_held(emails[start : start + provider.max_batch_size])
        if not chunk:
            continue
        if not _wait_for_rate_limit(ctx, provider, len(chunk)):
            return results, _give_back(ctx, lease, emails[start:])
        # Waiting and earlier calls ate into the lease: renew it for the
        # records still to go once a tenth of it has gone, before the
        # admission (which may wait half a lease too) and again after it.
        # Every call starts with nine tenths of a lease or more (more than
        # five HTTP timeouts), and one straight after the claim skips the write.
        lease.keep(emails[start:])
        if not (chunk := lease.still_held(chunk)):
            continue
        if not _admitted(ctx, provider, len(chunk)):
            return results, _give_back(ctx, lease, emails[start:])
        lease.keep(emails[start:])
        if not (chunk := lease.still_held(chunk)):
            continue
        key = f"{batch_key}-{start}"
        results.extend(metrics.provider_call(provider.name, lambda: provider.send(chunk, batch_key=key)))  # noqa: B023 (called at once)
    return results, 0


class _Lease:
    """A claim's lease as its sender sees it: when it runs out, and which records it has found gone."""

    def __init__(self, ctx: WorkerContext, claim: Claim) -> None:
        self.ctx, self.claim = ctx, claim
        self.length = lease_for(ctx)
        self.until = claim.lease_until
        self.records = {delivery.id: delivery for delivery in claim.deliveries}
        self.gone: set[int] = set()

    def keep(self, rest: list[OutgoingEmail]) -> None:
        """Renew the lease of the records still to go when less than RENEW_BELOW of it is left, noting those no longer held."""
        if self.until - utcnow() >= self.length * RENEW_BELOW:
            return
        asked = self.still_held(rest)
        renewal = renew_lease(self.ctx.db, self.held_records(asked), self.length)
        self.until = renewal.lease_until
        gone = {email.delivery_id for email in asked} - renewal.held
        if gone:
            self.gone |= gone
            log.warning(
                "campaign %s: %s records were taken over (or put in doubt) after this worker's lease ran out; they are not sent here",
                self.claim.campaign.id,
                len(gone),
            )

    def still_held(self, emails: list[OutgoingEmail]) -> list[OutgoingEmail]:
        return [email for email in emails if email.delivery_id not in self.gone]

    def held_records(self, emails: list[OutgoingEmail]) -> list[ClaimedDelivery]:
        return [self.records[email.delivery_id] for email in self.still_held(emails)]


def _call_cost(ctx: WorkerContext, provider: Provider, messages: int) -> CallCost:
    """What a call of ``messages`` messages takes from the provider's limits."""
    return CallCost(
        requests_per_second=provider.requests_per_second,
        messages_per_second=ctx.settings.messages_per_second(provider.name),
        messages=messages,
        requests=messages if provider.one_request_per_message else 1,
    )


def _give_back(ctx: WorkerContext, lease: _Lease, rest: list[OutgoingEmail]) -> int:
    """The limit is further off than a task should wait: release the rest still held for the retry (or the sweep); return how many."""
    records = lease.held_records(rest)
    release_claim(ctx.db, records)
    return len(records)


def _admitted(ctx: WorkerContext, provider: Provider, messages: int) -> bool:
    """The booking spaced the calls; a worker that woke late for its slot is held here, the last thing before its call."""
    cost = _call_cost(ctx, provider, messages)
    if cost.requests != 1 or not cost.requests_per_second:
        return True  # a call of several requests paces them itself
    return ctx.limiter.admit(provider.name, cost.requests_per_second, max_wait=_longest_wait(ctx))


def _longest_wait(ctx: WorkerContext) -> float:
    # Waiting eats into the records' lease: never more than half of it.
    return min(ctx.settings.max_countdown, lease_for(ctx).total_seconds() / 2)


def _wait_for_rate_limit(ctx: WorkerContext, provider: Provider, messages: int) -> bool:
    """Sleep until the provider's shared rate limit allows this call; False when that is too far off."""
    reservation = ctx.limiter.reserve(
        provider.name,
        _call_cost(ctx, provider, messages),
        max_wait=_longest_wait(ctx),
    )
    if reservation.wait is None:
        return False
    if reservation.wait > 0:
        time.sleep(reservation.wait)
    return True


def _pause_on_error_rate(ctx: WorkerContext, campaign_id: int) -> None:
    rate, finished = error_rate(ctx.db, campaign_id)
    if finished >= ctx.settings.error_pause_minimum and rate >= ctx.settings.error_pause_rate:
        threshold = ctx.settings.error_pause_rate
        reason = f"{rate:.0%} of {finished} finished records failed (threshold {threshold:.0%}); check `newsletter status`"
        pause_campaign(ctx.db, campaign_id, reason)
        log.error("campaign %s paused itself: %s", campaign_id, reason)


def header_fault(field: str, value: str) -> str | None:
    """Why ``value`` cannot go in a message header (a control character or line separator), or None."""
    found = first_control_character(value)
    return f"the {field} contains {describe_character(found)}; no message header can carry it" if found else None


def compose(
    ctx: WorkerContext,
    campaign: CampaignSnapshot,
    issue: RenderedIssue,
    delivery: ClaimedDelivery,
    *,
    confirm: bool | None = None,
    track: bool | None = None,
    json_bodies: bool = False,
) -> OutgoingEmail:
    """Stage 2 for one recipient: fill the personal fields and build the email.

    ``confirm`` says whether the template has a confirm link (None: look it
    up); an issue without one costs no extra signature per recipient.
    ``track`` likewise says whether it is a tracked issue, whose pixel and
    click links take one token per email, signed for this delivery.
    ``json_bodies``: write the bodies as JSON strings, for a provider whose
    request is JSON (``Provider.json_bodies``); a value JSON cannot carry
    gives the email its string bodies instead.
    """
    target = LinkTarget(delivery.subscriber_id, campaign.list_id, campaign.id)
    if confirm is None:
        confirm = CONFIRM_FIELD in issue.fields
    if track is None:
        track = TRACK_FIELD in issue.fields
    links = campaign.has_subscriber_links
    recipient = Recipient(
        email=delivery.email,
        first_name=delivery.first_name,
        last_name=delivery.last_name,
        unsubscribe_url=ctx.signer.url(UNSUBSCRIBE, target) if links else "",
        view_url=ctx.signer.url(VIEW, target) if links else "",
        attributes=delivery.attributes,
        confirm_url=ctx.signer.url(CONFIRM, target) if confirm else "",
        track_token=ctx.signer.track_token(delivery.id, campaign.id) if track else "",
    )
    if name_fault := header_fault("name", recipient.full_name):
        raise RenderError(name_fault)
    bodies = _json_bodies(issue, recipient) if json_bodies else None
    html, text = ("", "") if bodies is not None else issue.personalise(recipient)
    return OutgoingEmail(
        delivery_id=delivery.id,
        campaign_id=campaign.id,
        message_id=delivery.message_id,
        sender=ctx.settings.from_address,
        # Becomes the wire form (punycode domain); an address no provider takes fails this record alone.
        to_address=delivery.email,
        to_name=recipient.full_name,
        subject=("[TEST] " if campaign.is_test else "") + campaign.subject_for(delivery.variant),
        html=html,
        text=text,
        unsubscribe_url=recipient.unsubscribe_url,
        reply_to=ctx.settings.reply_to,
        is_test=campaign.is_test,
        json_bodies=bodies,
    )


def _json_bodies(issue: RenderedIssue, recipient: Recipient) -> tuple[JsonText, JsonText] | None:
    try:
        return issue.personalise_json(recipient)
    except orjson.JSONEncodeError:
        return None  # a lone surrogate in a value: the string bodies, which the standard library writes


def _log_outcomes(campaign_id: int, batch_id: int, provider: str, sent: int, failed: int, retried: int) -> None:
    """One delivery line per outcome of the batch, its fields kept apart for a JSON log (NEWSLETTER_LOG_FORMAT)."""
    for outcome, count in (("sent", sent), ("failed", failed), ("retried", retried)):
        if count:
            fields = {"campaign_id": campaign_id, "batch_id": batch_id, "provider": provider, "outcome": outcome, "count": count}
            log.info("campaign %s batch %s via %s: %s %s", campaign_id, batch_id, provider, count, outcome, extra=fields)
