"""Celery tasks: thin, they take ids and call domain code."""

from __future__ import annotations

from celery import Task

from workers.celery_app import MAX_COUNTDOWN, app
from workers.context import worker_context
from workers.delivery import deliver_batch


@app.task(bind=True, name="newsletter.send_batch", max_retries=None)
def send_batch(self: Task, batch_id: int) -> None:
    """Deliver the open records of one batch; schedule a retry when some must wait."""
    outcome = deliver_batch(worker_context(), batch_id, max_countdown=MAX_COUNTDOWN)
    if outcome.retry_in is not None:
        # A short countdown only (below the visibility timeout); the ledger,
        # not this message, is what guarantees the records get sent.
        raise self.retry(countdown=outcome.retry_in)
