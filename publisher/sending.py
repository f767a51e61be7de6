"""Send a draft or a test copy, then put its batches on the queue: what the CLI, the API and the console share.

The ledger is written first, in one transaction; the batches are enqueued
after it commits. When the broker cannot take them then, nothing is lost:
a batch not marked enqueued is put on the queue by the workers' next sweep.

The provider's settings are checked before anything is written. Its code
lives with the workers, which the web app never imports, so the caller
passes a ``ProviderCheck`` in: ``newsletter serve`` and the commands build it
from ``workers.providers``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from publisher.accounts.roles import Actor
from publisher.core.broker import redis_url
from publisher.core.errors import ConfigurationError, NewsletterError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.ledger import approval, subject_test_decision
from publisher.ledger.auto_send import due_approved
from publisher.ledger.campaigns import CreatedCampaign
from publisher.ledger.dispatch import QueuedBatch, mark_enqueued
from publisher.ledger.drafts import DraftConflict, SendOrder, load_draft, require_draft, send_draft, send_test
from publisher.ledger.resend import ResendOrder, resend_to_non_openers
from publisher.queue import enqueue

log = logging.getLogger(__name__)

#: Checks that the named provider is configured (raising ConfigurationError) and returns its largest batch.
ProviderCheck = Callable[[Settings, str], int]


def batch_size(settings: Settings, check: ProviderCheck, provider: str) -> int:
    """The provider's largest batch, or NEWSLETTER_BATCH_SIZE when that is set lower."""
    return settings.batch_size_for(check(settings, provider))


def send(settings: Settings, db: Database, order: SendOrder, actor: Actor, check: ProviderCheck) -> CreatedCampaign:
    """Send or schedule a draft and enqueue its batches when it is due now."""
    draft = load_draft(db, order.campaign_id)
    # A draft sent already is a conflict, whatever has become of its provider's settings since.
    require_draft(draft.id, draft.status, "sent")
    size = batch_size(settings, check, draft.provider)
    created = send_draft(settings, db, replace(order, batch_size=size), actor)
    if created.due_batch_ids:
        _enqueue(settings, db, [QueuedBatch(batch_id, False) for batch_id in created.due_batch_ids])
    return created


def resend(settings: Settings, db: Database, order: ResendOrder, actor: Actor, check: ProviderCheck) -> CreatedCampaign:
    """Resend a complete issue to its non-openers through its own provider; enqueue the batches when it is due now."""
    original = load_draft(db, order.campaign_id)
    size = batch_size(settings, check, original.provider)
    created = resend_to_non_openers(settings, db, replace(order, batch_size=size), actor)
    if created.due_batch_ids:
        _enqueue(settings, db, [QueuedBatch(batch_id, False) for batch_id in created.due_batch_ids])
    return created


def send_due_approved(settings: Settings, db: Database, check: ProviderCheck, now: dt.datetime | None = None) -> list[int]:
    """The sweep's part of the rule ``auto``: send every approved draft whose ``auto_send_at`` has come; return their ids.

    The batches are written here and enqueued by the sweep's dispatch that
    follows (or by the next one). A send the ledger refuses (nobody in the
    audience, the provider's settings) withdraws the approval and keeps the
    reason with the draft, so it is not tried again at every sweep.
    """
    sent: list[int] = []
    for campaign_id in due_approved(db, now):
        draft = load_draft(db, campaign_id)
        actor = Actor(kind="auto", name=draft.approved_by or "")
        try:
            size = batch_size(settings, check, draft.provider)
            send_draft(settings, db, SendOrder(campaign_id, size, automatic=True), actor)
        except DraftConflict:
            continue  # sent by hand, or edited (the approval withdrawn), since it was found: nothing to do
        except (NewsletterError, ConfigurationError) as exc:
            log.warning("campaign %s was not sent automatically: %s", campaign_id, exc)
            approval.refuse_automatic_send(db, campaign_id, actor, str(exc))
            continue
        sent.append(campaign_id)
    return sent


def pick_winner(settings: Settings, db: Database, campaign_id: int, number: int, actor: Actor) -> None:
    """Decide a campaign's subject test by hand (variant ``number``, from 1) and enqueue the remainder's batches.

    Raises as ``publisher.ledger.subject_test_decision.pick_winner`` does: after the decision the pick is a conflict.
    """
    due = subject_test_decision.pick_winner(db, campaign_id, number, actor)
    if due:
        _enqueue(settings, db, [QueuedBatch(batch_id, False) for batch_id in due])


def test(
    settings: Settings, db: Database, campaign_id: int, addresses: tuple[str, ...], actor: Actor, check: ProviderCheck
) -> CreatedCampaign:
    """Send test copies of a campaign to ``addresses`` on the priority queue."""
    draft = load_draft(db, campaign_id)
    created = send_test(settings, db, campaign_id, addresses, batch_size(settings, check, draft.provider), actor)
    _enqueue(settings, db, [QueuedBatch(batch_id, True) for batch_id in created.batch_ids])
    return created


def enqueue_batches(settings: Settings, db: Database, batch_ids: list[int]) -> None:
    """Put batches written outside a send (an import's welcome issue) on the queue; the sweep does it when the broker cannot."""
    _enqueue(settings, db, [QueuedBatch(batch_id, False) for batch_id in batch_ids])


def _enqueue(settings: Settings, db: Database, batches: list[QueuedBatch]) -> None:
    try:
        enqueue(settings, redis_url(settings, start=False), batches)
    except (OperationalError, RedisError, OSError):
        log.warning("%d batch(es) could not be enqueued; the workers' sweep enqueues them", len(batches), exc_info=True)
        return
    mark_enqueued(db, [batch.batch_id for batch in batches])
