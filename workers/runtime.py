"""Per-process state of a worker: its one ``WorkerContext``, built after the fork.

Created lazily in each process, after the prefork pool has forked, so no
database connection or HTTP session is ever shared across processes.
"""

from __future__ import annotations

import os

from publisher.core.broker import connect, redis_url
from publisher.core.links import signer_for
from publisher.core.settings import Settings
from publisher.db.engine import open_database
from publisher.queue import deliver_webhooks_after_commit
from workers.celery_app import current_settings
from workers.delivery.context import WorkerContext
from workers.delivery.provider_state import ProviderState
from workers.delivery.rate_limit import RateLimiter

_context: WorkerContext | None = None


def build_context(settings: Settings) -> WorkerContext:
    url = redis_url(settings, start=False)
    client = connect(url, settings.redis_sentinel_master)
    db = open_database(settings.resolved_database_url, settings.secret_keys)
    # Campaigns complete here: their webhook messages go on the queue as soon as that commits.
    deliver_webhooks_after_commit(settings, db, url)
    return WorkerContext(
        settings=settings,
        db=db,
        signer=signer_for(settings),
        state=ProviderState(client, settings),
        limiter=RateLimiter(client),
    )


def worker_context() -> WorkerContext:
    """This process's context, rebuilt after a fork."""
    global _context
    if _context is None or _context.pid != os.getpid():
        _context = build_context(current_settings())
    return _context
