"""Celery tasks: thin, they take ids and call domain code."""

from __future__ import annotations

from celery import Task

from publisher.ledger.dispatch import defer_batch
from publisher.queue import TASK_DELIVER_WEBHOOKS, TASK_SEND_BATCH, TASK_SWEEP, mark_queued, unmark_queued, unmark_webhooks_queued
from workers.celery_app import app, current_settings, redis_url_of_broker
from workers.delivery.batch import deliver_batch
from workers.runtime import worker_context
from workers.webhooks import deliver_due


@app.task(bind=True, name=TASK_SEND_BATCH, max_retries=None)
def send_batch(self: Task, batch_id: int) -> None:
    """Deliver the open records of one batch; schedule a retry when some must wait."""
    # From here the ledger, not a queued message, stands for this batch; if
    # the task fails, the sweep finds its pending records and enqueues it again.
    ctx = worker_context()
    unmark_queued(ctx.state.client, batch_id)
    outcome = deliver_batch(ctx, batch_id, max_countdown=ctx.settings.max_countdown)
    if outcome.retry_in is None:
        return
    if outcome.retry_in > ctx.settings.max_countdown:
        # A long wait never sits in Redis as an ETA message (it would outlive
        # the visibility timeout and be redelivered): the ledger keeps it and
        # the sweep enqueues the batch again when it is due.
        defer_batch(ctx.db, batch_id, outcome.retry_in)
        return
    mark_queued(ctx.state.client, [batch_id])
    raise self.retry(countdown=outcome.retry_in)


@app.task(name=TASK_SWEEP, ignore_result=True)
def sweep() -> int:
    """The periodic sweep, for deployments that run celery beat (workers also sweep by themselves)."""
    # Imported here, not above: importing the module starts a sweeper thread
    # in every worker (its worker_ready hook), which only `newsletter worker` wants.
    from workers.sweeper import Sweeper

    return Sweeper(current_settings(), redis_url_of_broker()).sweep_once()


@app.task(name=TASK_DELIVER_WEBHOOKS, ignore_result=True)
def deliver_webhooks() -> int:
    """Send the outgoing webhook messages that are due; return how many were delivered."""
    ctx = worker_context()
    # From here a new message needs a new task: the one running may have claimed its batch already.
    unmark_webhooks_queued(ctx.state.client)
    return deliver_due(ctx.settings, ctx.db).delivered
