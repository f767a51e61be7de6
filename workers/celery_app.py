"""The Celery app and the settings that keep work from being lost (configuration only).

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

import gc
import logging
import sys
from typing import Any

from celery import Celery, signals
from kombu.entity import Queue
from sqlalchemy.orm import configure_mappers

from publisher.core.logs import configure_logging
from publisher.core.settings import Settings, load_settings
from publisher.queue import MESSAGE_OPTIONS, QUEUE_PRIORITY, QUEUE_SEND, QUEUES, TASK_SWEEP, configure_broker
from workers.providers import provider_class

app = Celery("newsletter", include=["workers.tasks", "workers.event_tasks"])
app.conf.update(MESSAGE_OPTIONS)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE_SEND,
    task_queues=[Queue(name) for name in QUEUES],
    worker_hijack_root_logger=False,
    # Task events feed Flower (docker-compose.yml) and its Prometheus /metrics.
    worker_send_task_events=True,
    enable_utc=True,
)

_settings: Settings | None = None


def configure(settings: Settings, url: str | None = None) -> Celery:
    """Point the app at the broker for ``settings``; every process calls this once."""
    global _settings
    _settings = settings
    configure_broker(app, settings, url)
    app.conf.beat_schedule = {
        "newsletter-sweep": {
            "task": TASK_SWEEP,
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


def check_worker_configuration(settings: Settings) -> None:
    """Refuse to start a worker whose configured provider (or fallback) lacks credentials."""
    provider_class(settings.provider).check_configuration(settings)
    if settings.fallback_provider:
        provider_class(settings.fallback_provider).check_configuration(settings)


@signals.setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # A receiver here stops Celery from setting up logging itself: every
    # line, Celery's own included, goes out in NEWSLETTER_LOG_FORMAT.
    configure_logging(current_settings().log_format, loglevel or logging.INFO)


@signals.celeryd_init.connect
def _configure_worker(conf: Any = None, **_: Any) -> None:
    # Covers `celery -A workers.celery_app worker` as well as `newsletter worker`.
    check_worker_configuration(current_settings())


@signals.worker_before_create_process.connect
def _freeze_before_fork(**_: Any) -> None:
    # A pool child shares its parent's memory until it writes to it, and the
    # garbage collector writes to every object it scans: frozen objects are
    # never scanned, so the pages of everything imported stay shared.
    _parse_pool_declaration()
    # SQLAlchemy finishes configuring the ORM's mappers on first use; left to
    # the pool children, each would write to (and so copy) the pages of every
    # mapped class and its attributes: about 3 MB a child.
    configure_mappers()
    gc.freeze()


def _parse_pool_declaration() -> None:
    # Every pool child starts by asking the kernel to kill it with its parent
    # (billiard's set_pdeathsig), through cffi when cffi is installed; cffi
    # then builds its C parser (pycparser's tables: about 1.5 MB and 50 ms).
    # Built here once, the parser is inherited by every child instead.
    if "cffi" in sys.modules:
        sys.modules["cffi"].FFI().cdef("int prctl (int __option, ...);")
