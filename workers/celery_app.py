"""The Celery app and the settings that keep work from being lost.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged
  only when it has finished; a worker child killed mid-task puts it back.
- ``worker_prefetch_multiplier=1``: a worker holds one waiting message per
  process, so a dead host strands as little work as possible.
- ``visibility_timeout`` (30 min) is longer than the task time limit (10 min)
  plus the longest retry countdown (5 min): a message is never redelivered
  while its first delivery still runs or waits.
- Results are not stored: the ledger in the database is the truth.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu.entity import Queue

from publisher.broker import celery_broker_url, redis_url
from publisher.settings import Settings, load_settings

QUEUE_SEND = "newsletter.send"
#: Test sends and other small, urgent work, so they never wait behind a campaign.
QUEUE_PRIORITY = "newsletter.priority"
QUEUES = (QUEUE_PRIORITY, QUEUE_SEND)

TASK_TIME_LIMIT = 600
TASK_SOFT_TIME_LIMIT = 540
MAX_COUNTDOWN = 300
VISIBILITY_TIMEOUT = 1800

TRANSPORT_OPTIONS = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    # Put messages of dead workers back every minute (kombu default: 100 s).
    "unacked_restore_interval": 60,
}

app = Celery("newsletter", include=["workers.tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options=TRANSPORT_OPTIONS,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=QUEUE_SEND,
    task_queues=[Queue(name) for name in QUEUES],
    task_time_limit=TASK_TIME_LIMIT,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    enable_utc=True,
)

_settings: Settings | None = None


def configure(settings: Settings, url: str | None = None) -> Celery:
    """Point the app at the broker for ``settings``; every process calls this once."""
    global _settings
    _settings = settings
    app.conf.broker_url = celery_broker_url(url or redis_url(settings))
    return app


def current_settings() -> Settings:
    """The settings this process was configured with (read from the environment if never configured)."""
    if _settings is None:
        configure(load_settings())
    assert _settings is not None
    return _settings


@signals.celeryd_init.connect
def _configure_worker(conf: Any = None, **_: Any) -> None:
    # Covers `celery -A workers.celery_app worker` as well as `newsletter worker`.
    from workers.context import check_worker_configuration

    settings = current_settings()
    check_worker_configuration(settings)
