"""The Celery app and the settings that keep work from being lost.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged
  only when it has finished; a worker child killed mid-task puts it back.
- ``worker_prefetch_multiplier=1``: a worker holds one waiting message per
  process, so a dead host strands as little work as possible.
- ``visibility_timeout`` (NEWSLETTER_VISIBILITY_TIMEOUT, 120 s) decides how
  soon messages held by a dead host come back; kombu checks for them every
  ``unacked_restore_interval`` (a quarter of it). Every retry countdown
  (NEWSLETTER_MAX_COUNTDOWN, 60 s) stays below it; longer waits are kept in
  the database and released by the sweep. A task running longer than the
  visibility timeout may be delivered twice: harmless, because records are
  claimed in the ledger with a lease before anything is sent.
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


def transport_options(settings: Settings) -> dict[str, float]:
    """Broker options; every worker and publisher must use the same visibility timeout."""
    return {
        "visibility_timeout": settings.visibility_timeout,
        # kombu's default is to look for unacked messages every 100 s.
        "unacked_restore_interval": max(1.0, settings.visibility_timeout / 4),
    }


app = Celery("newsletter", include=["workers.tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=QUEUE_SEND,
    task_queues=[Queue(name) for name in QUEUES],
    task_time_limit=TASK_TIME_LIMIT,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    worker_hijack_root_logger=False,
    # Task events feed Flower (docker-compose.yml) and its Prometheus /metrics.
    worker_send_task_events=True,
    task_send_sent_event=True,
    enable_utc=True,
)

_settings: Settings | None = None


def configure(settings: Settings, url: str | None = None) -> Celery:
    """Point the app at the broker for ``settings``; every process calls this once."""
    global _settings
    _settings = settings
    app.conf.broker_url = celery_broker_url(url or redis_url(settings))
    app.conf.broker_transport_options = transport_options(settings)
    app.conf.beat_schedule = {
        "newsletter-sweep": {
            "task": "newsletter.sweep",
            "schedule": settings.sweep_interval,
            "options": {"queue": QUEUE_PRIORITY, "expires": settings.sweep_interval},
        }
    }
    return app


def redis_url_of_broker() -> str:
    """The broker URL as redis-py spells it."""
    return str(app.conf.broker_url).replace("redis+socket://", "unix://", 1)


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
