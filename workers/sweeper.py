"""The workers' own periodic sweep, so no separate beat process is needed.

Each worker's main process runs one sweeper thread. A Redis lock makes sure
only one sweep runs at a time across all workers and hosts; the sweep makes the
recap drafts of events that have ended, sends approved drafts whose automatic
send has come, decides the subject tests whose wait has passed (releasing
each remainder with its winner), releases scheduled campaigns that are due, enqueues any
batch not on the queue yet, and a webhook delivery task when an outgoing
webhook message is due and none waits; it deletes the webhook messages
delivered or given up on more than 30 days ago, and the opens and clicks
older than NEWSLETTER_TRACKING_DAYS. Each step has its own guard: one
failing never keeps the others from running.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

import redis
from celery import signals
from redis.lock import Lock

from publisher.core.broker import connect
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.events.endings import recap_work_waiting
from publisher.ledger.auto_send import due_approved
from publisher.ledger.subject_test_decision import decide_due, due_decisions
from publisher.outgoing_webhooks.messages import prune as prune_webhook_messages
from publisher.queue import deliver_webhooks_after_commit, dispatch_due, dispatch_due_webhooks
from publisher.tracking.retention import prune as prune_engagements
from workers.celery_app import current_settings, redis_url_of_broker
from workers.providers import check_provider

log = logging.getLogger(__name__)

LOCK_NAME = "newsletter:sweep-lock"


class Sweeper(threading.Thread):
    def __init__(self, settings: Settings, url: str) -> None:
        super().__init__(name="newsletter-sweeper", daemon=True)
        self.settings = settings
        self.url = url
        self.stopping = threading.Event()
        #: The lock and token of a sweep whose release has not succeeded yet.
        self._held: tuple[Lock, str] | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sweep_once()
            except Exception:  # keep sweeping: one failed sweep must not stop the next
                log.exception("sweep failed")
            self.stopping.wait(self.settings.sweep_interval)

    def sweep_once(self) -> int:
        if self._held is not None:
            self._release()  # a lock a failed sweep may still hold: until Redis answers, no sweep
        client = connect(self.url, self.settings.redis_sentinel_master)
        lock = client.lock(LOCK_NAME, timeout=max(60.0, self.settings.sweep_interval * 4), blocking=False)
        # Our own token, kept until the release succeeds: Redis can go away between the acquire and the
        # release (a restart, with the lock persisted) and every sweep would then wait for it to expire.
        self._held = (lock, uuid.uuid4().hex)
        if not lock.acquire(token=self._held[1]):
            self._held = None
            return 0
        db = open_database(self.settings.resolved_database_url, self.settings.secret_keys)
        deliver_webhooks_after_commit(self.settings, db, self.url)
        try:
            try:
                self.sweep_events(db)
            except Exception:  # the batches below must still be dispatched
                log.exception("the sweep's event step failed")
            try:
                self.sweep_subject_tests(db)
            except Exception:  # the batches below must still be dispatched
                log.exception("the sweep's subject test step failed")
            released = 0
            try:
                released = dispatch_due(self.settings, db, self.url)
            except Exception:  # the webhook step below must still run
                log.exception("the sweep's dispatch failed")
            if released:
                log.info("sweep enqueued %s batch(es)", released)
            self.sweep_webhooks(db)
            self.sweep_engagements(db)
            return released
        finally:
            # The prefork pool may fork again later: hold no connections.
            db.dispose()
            self._release()

    def _release(self) -> None:
        """Release the lock this sweeper took, if it still holds it; a Redis error leaves it to try again."""
        assert self._held is not None
        lock, token = self._held
        with contextlib.suppress(redis.exceptions.LockError):  # expired, or taken by another sweeper since
            lock.do_release(token)
        self._held = None

    def sweep_subject_tests(self, db: Database) -> None:
        """Decide the subject tests whose wait has passed: each winner's remainder is then due for the dispatch that follows.

        Each decision is one transaction that happens once (``publisher.ledger.subject_test_decision``):
        a worker that dies in the middle of one leaves it for the next sweep.
        """
        if not due_decisions(db):
            return
        # The decision never waits past the days the test's opens are kept.
        for decided in decide_due(db, kept=self.settings.tracking_kept):
            log.info(
                "campaign %s: subject test decided, variant %s wins (%s, p=%s)",
                decided.campaign_id,
                decided.winner,
                decided.decision.value,
                "n/a" if decided.comparison.p_value is None else f"{decided.comparison.p_value:.4g}",
            )

    def sweep_webhooks(self, db: Database) -> None:
        """Queue a delivery task for the webhook messages that are due, and delete those kept long enough; each step guarded."""
        try:
            # Webhook messages whose task was lost, whose retry is due, or whose endpoint was enabled again.
            dispatch_due_webhooks(self.settings, db, self.url)
        except Exception:
            log.exception("the sweep's webhook step failed")
        try:
            pruned = prune_webhook_messages(db)
        except Exception:
            log.exception("the sweep's webhook pruning failed")
        else:
            if pruned:
                log.info("sweep deleted %s webhook message(s) past their retention", pruned)

    def sweep_engagements(self, db: Database) -> None:
        """Delete the opens and clicks kept NEWSLETTER_TRACKING_DAYS already."""
        try:
            pruned = prune_engagements(db, self.settings.tracking_days)
        except Exception:
            log.exception("the sweep's tracking retention step failed")
        else:
            if pruned:
                log.info("sweep deleted %s open(s) and click(s) past NEWSLETTER_TRACKING_DAYS", pruned)

    def sweep_events(self, db: Database) -> None:
        """What ended events ask for: recap drafts and the editors' notice, then the approved drafts that are due.

        Runs before the dispatch, which enqueues the batches these write.
        """
        # Each step in its own try: a failing one must never keep the other from running, sweep after sweep.
        # The recap and send code (the renderer, the lint: about 10 MB) is
        # imported only when a cheap query finds work for it, so a worker
        # that never has any never holds it.
        made = sent = 0
        try:
            if recap_work_waiting(db, self.settings, utcnow()):
                from publisher.events.recaps import make_due_recaps

                made = len(make_due_recaps(self.settings, db))
        except Exception:
            log.exception("the sweep's recap step failed")
        try:
            if due_approved(db):
                from publisher.sending import send_due_approved

                sent = len(send_due_approved(self.settings, db, check_provider))
        except Exception:
            log.exception("the sweep's automatic sends failed")
        if made or sent:
            log.info("sweep: %s event recap(s) made, %s approved draft(s) sent", made, sent)


_sweeper: Sweeper | None = None


@signals.worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = Sweeper(current_settings(), redis_url_of_broker())
    _sweeper.start()


@signals.worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stopping.set()
