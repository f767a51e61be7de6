"""The queue between the two sides: names, broker options, and enqueueing by task name.

The publisher puts work on Redis through Celery's ``send_task``: it names the
task and never imports the workers' code, so the worker side can change
without the publisher noticing, and the one thing both must agree on (queue
and task names, the visibility timeout) is written here once.

A Redis hash (``QUEUED_KEY``) notes which batches have a message on the queue;
the task removes its mark when it starts. The sweep (``dispatch_due``) uses it
to tell a batch whose message is lost from one whose message is only waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from publisher.core.broker import celery_broker_url, connect, redis_url
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.ledger.dispatch import QueuedBatch, mark_enqueued, release_due
from publisher.outgoing_webhooks.announce import ANNOUNCED
from publisher.outgoing_webhooks.messages import any_due

log = logging.getLogger(__name__)

QUEUE_SEND = "newsletter.send"
#: Test sends and other small, urgent work, so they never wait behind a campaign.
QUEUE_PRIORITY = "newsletter.priority"
QUEUES = (QUEUE_PRIORITY, QUEUE_SEND)

#: Task names, as ``workers/tasks.py`` registers them.
TASK_SEND_BATCH = "newsletter.send_batch"
TASK_SWEEP = "newsletter.sweep"
#: One delivery from an event platform (Zoom, Eventbrite, Luma, any other), verified by the web app.
TASK_EVENT_DELIVERY = "newsletter.event_delivery"
#: Send the outgoing webhook messages that are due (no argument: the database says which).
TASK_DELIVER_WEBHOOKS = "newsletter.deliver_webhooks"
#: Seconds a task may run (hard, then soft) before the worker stops it; the message carries them too.
TASK_TIME_LIMIT = 600
TASK_SOFT_TIME_LIMIT = 540

#: How often, and how soon, an event delivery is offered to the broker again before the receiver answers 503.
EVENT_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.3}

#: Redis hash of the batches with a message on the queue (batch id → when it was put there).
QUEUED_KEY = "newsletter:queued"

#: Set while a webhook delivery task waits on the queue (the task deletes it when it starts); it expires
#: by itself, so a lost message holds nothing up for long.
WEBHOOKS_QUEUED_KEY = "newsletter:webhooks-queued"

#: How messages are written and read, the same for the publisher's app and the workers'.
MESSAGE_OPTIONS: dict[str, object] = {
    "task_serializer": "json",
    "accept_content": ["json"],
    "task_ignore_result": True,
    "task_time_limit": TASK_TIME_LIMIT,
    "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
    "broker_connection_retry_on_startup": True,
    # Task events feed Flower (docker-compose.yml) and its Prometheus /metrics.
    "task_send_sent_event": True,
}

#: The publisher's own Celery app: it only sends, by task name.
producer = Celery("newsletter", set_as_current=False)
producer.conf.update(MESSAGE_OPTIONS)


def transport_options(settings: Settings) -> dict[str, float | str]:
    """Broker options; every worker and publisher must use the same visibility timeout."""
    options: dict[str, float | str] = {
        "visibility_timeout": settings.visibility_timeout,
        # kombu's default is to look for unacked messages every 100 s.
        "unacked_restore_interval": max(1.0, settings.visibility_timeout / 4),
    }
    if settings.redis_sentinel_master:
        # kombu's sentinel:// transport asks the Sentinels for this master.
        options["master_name"] = settings.redis_sentinel_master
    return options


def configure_broker(app: Celery, settings: Settings, url: str | None = None) -> Celery:
    """Point a Celery app (the producer or the workers') at the broker for ``settings``."""
    app.conf.broker_url = celery_broker_url(url or redis_url(settings))
    app.conf.broker_transport_options = transport_options(settings)
    return app


def queue_depth(client: redis.Redis, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue, not yet taken by a worker (one round trip)."""
    # kombu keeps one Redis list per priority step: "name", "name\x06\x163", …
    keys = {queue: [queue, *(f"{queue}\x06\x16{step}" for step in range(1, 10))] for queue in queues}
    with client.pipeline(transaction=False) as pipe:
        for names in keys.values():
            for name in names:
                pipe.llen(name)
        lengths = iter(pipe.execute())
    return {queue: sum(int(next(lengths)) for _ in names) for queue, names in keys.items()}


def unacked(client: redis.Redis) -> int:
    """Messages taken by workers and not yet acknowledged (Redis gives them back after the visibility timeout)."""
    return int(client.hlen("unacked"))


def mark_queued(client: redis.Redis, batch_ids: list[int]) -> None:
    """Note that a message for each batch is on the queue (the task unmarks it when it starts)."""
    if batch_ids:
        now = str(time.time())
        client.hset(QUEUED_KEY, mapping=dict.fromkeys(map(str, batch_ids), now))


def unmark_queued(client: redis.Redis, batch_id: int) -> None:
    client.hdel(QUEUED_KEY, str(batch_id))


def enqueue(settings: Settings, url: str, batches: list[QueuedBatch]) -> None:
    """Send one task per batch through Celery (the message carries only the batch id)."""
    app = configure_broker(producer, settings, url)
    mark_queued(connect(url, settings.redis_sentinel_master), [batch.batch_id for batch in batches])
    with app.producer_or_acquire() as connection:
        for batch in batches:
            # The same message the task's own apply_async wrote: send_task
            # does not read these options from the app's configuration.
            app.send_task(
                TASK_SEND_BATCH,
                args=[batch.batch_id],
                queue=QUEUE_PRIORITY if batch.priority else QUEUE_SEND,
                producer=connection,
                ignore_result=True,
                time_limit=TASK_TIME_LIMIT,
                soft_time_limit=TASK_SOFT_TIME_LIMIT,
            )


def dispatch_due(settings: Settings, db: Database, url: str) -> int:
    """Enqueue every batch that is due and not on the queue yet; return how many."""
    due = release_due(db, dt.timedelta(seconds=settings.lease_seconds))
    maybe = [batch for batch in due if batch.unless_queued]
    if maybe:
        on_queue = connect(url, settings.redis_sentinel_master).hmget(QUEUED_KEY, [str(batch.batch_id) for batch in maybe])
        # A marker older than any message can wait (countdown + redelivery) outlived its message.
        fresh_after = time.time() - (settings.max_countdown + settings.visibility_timeout) * 2
        queued = {batch.batch_id for batch, mark in zip(maybe, on_queue, strict=True) if mark is not None and float(mark) > fresh_after}
        due = [batch for batch in due if batch.batch_id not in queued]
    if due:
        enqueue(settings, url, due)
        mark_enqueued(db, [batch.batch_id for batch in due])
    return len(due)


def enqueue_event_delivery(settings: Settings, source: str, payload: dict[str, object]) -> None:
    """Put one verified event-platform delivery on the priority queue; broker failures propagate.

    The receiver has answered nothing yet: when Redis cannot take the message
    it answers 503 and the platform delivers again later. Publishing is tried
    a few times within about a second, well inside the 3 seconds Zoom waits.
    The connection is made for this message, to the broker these settings
    name, rather than taken from the producer's pool.
    """
    app = configure_broker(producer, settings, redis_url(settings, start=False))
    with app.connection_for_write() as connection:
        app.send_task(
            TASK_EVENT_DELIVERY,
            args=[source, payload],
            queue=QUEUE_PRIORITY,
            connection=connection,
            ignore_result=True,
            time_limit=TASK_TIME_LIMIT,
            soft_time_limit=TASK_SOFT_TIME_LIMIT,
            retry_policy=EVENT_PUBLISH_RETRY,
        )


def enqueue_confirmation(settings: Settings, db: Database, batch_id: int) -> None:
    """Put a double opt-in email (or a confirmed sign-up's welcome issue) on the priority queue; if the broker fails, the sweep does."""
    try:
        enqueue(settings, redis_url(settings, start=False), [QueuedBatch(batch_id, priority=True)])
    except (OperationalError, RedisError, OSError):
        log.warning("confirmation batch %s could not be enqueued; the workers' sweep sends it", batch_id, exc_info=True)
        return
    mark_enqueued(db, [batch_id])


def enqueue_webhooks(settings: Settings, url: str, *, force: bool = False) -> bool:
    """Put one webhook delivery task on the priority queue unless one waits there already (or ``force``); return whether one was put."""
    client = connect(url, settings.redis_sentinel_master)
    # One waiting task sends every message that is due: more would only wait for each other's claims.
    expiry = int(max(60.0, settings.visibility_timeout * 2))
    if not client.set(WEBHOOKS_QUEUED_KEY, str(time.time()), nx=not force, ex=expiry):
        return False
    app = configure_broker(producer, settings, url)
    try:
        app.send_task(
            TASK_DELIVER_WEBHOOKS,
            queue=QUEUE_PRIORITY,
            ignore_result=True,
            time_limit=TASK_TIME_LIMIT,
            soft_time_limit=TASK_SOFT_TIME_LIMIT,
            retry_policy=EVENT_PUBLISH_RETRY,
        )
    except BaseException:
        client.delete(WEBHOOKS_QUEUED_KEY)
        raise
    return True


def unmark_webhooks_queued(client: redis.Redis) -> None:
    client.delete(WEBHOOKS_QUEUED_KEY)


def dispatch_due_webhooks(settings: Settings, db: Database, url: str) -> bool:
    """The sweep's part: put a delivery task on the queue when a webhook message is due and none waits."""
    return any_due(db) and enqueue_webhooks(settings, url)


def deliver_webhooks_after_commit(
    settings: Settings, db: Database, url: str | None = None, submit: Callable[[Callable[[], None]], object] | None = None
) -> None:
    """From now on, each transaction of ``db`` that wrote webhook messages puts a delivery task on the queue once it commits.

    Best effort: the messages are in the database already, and the workers'
    sweep sends them if the queue cannot be reached now. ``submit`` runs the
    queuing elsewhere (the web application's own thread: a request never
    waits on Redis); without it, it runs at once, in the committing thread.
    """

    def queue_task() -> None:
        try:
            enqueue_webhooks(settings, url or redis_url(settings, start=False))
        except (OperationalError, RedisError, OSError) as exc:
            log.warning("webhook messages written; the queue is unreachable (%s): the workers' sweep sends them", type(exc).__name__)

    def after_commit(session: Session) -> None:
        if not session.info.pop(ANNOUNCED, False):
            return
        if submit is None:
            queue_task()
            return
        try:
            submit(queue_task)
        except RuntimeError:  # shutting down: the sweep sends them
            log.warning("webhook messages written while shutting down: the workers' sweep sends them")

    def after_rollback(session: Session) -> None:
        session.info.pop(ANNOUNCED, None)

    event.listen(db.sessions, "after_commit", after_commit)
    event.listen(db.sessions, "after_rollback", after_rollback)
