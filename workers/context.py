"""Per-process resources of a worker: settings, database, link signer, providers.

Created lazily in each process, after the prefork pool has forked, so no
database connection or HTTP session is ever shared across processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from publisher.broker import connect, redis_url
from publisher.db.engine import Database, open_database
from publisher.links import LinkSigner, signer_for
from publisher.settings import Settings
from workers.provider_state import ProviderState
from workers.providers import provider_class
from workers.providers.base import Provider
from workers.rate_limit import RateLimiter


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    signer: LinkSigner
    state: ProviderState
    limiter: RateLimiter
    pid: int = field(default_factory=os.getpid)
    _providers: dict[str, Provider] = field(default_factory=dict)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = provider_class(name)(self.settings)
        return self._providers[name]

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self.db.dispose()


_context: WorkerContext | None = None


def build_context(settings: Settings) -> WorkerContext:
    client = connect(redis_url(settings, start=False))
    return WorkerContext(
        settings=settings,
        db=open_database(settings.resolved_database_url, settings.secret_keys),
        signer=signer_for(settings),
        state=ProviderState(client, settings),
        limiter=RateLimiter(client),
    )


def worker_context() -> WorkerContext:
    """This process's context, rebuilt after a fork."""
    global _context
    if _context is None or _context.pid != os.getpid():
        from workers.celery_app import current_settings

        _context = build_context(current_settings())
    return _context


def check_worker_configuration(settings: Settings) -> None:
    """Refuse to start a worker whose configured provider (or fallback) lacks credentials."""
    provider_class(settings.provider).check_configuration(settings)
    if settings.fallback_provider:
        provider_class(settings.fallback_provider).check_configuration(settings)
