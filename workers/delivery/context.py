"""What delivering a batch needs from its process: settings, database, link signer, provider state and clients.

``workers.runtime`` builds one per process (after the prefork pool has
forked, so no database connection or HTTP session is ever shared across
processes); tests build their own with ``workers.runtime.build_context``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from publisher.core.links import LinkSigner
from publisher.core.settings import Settings
from publisher.db.engine import Database
from workers.delivery.provider_state import ProviderState
from workers.delivery.rate_limit import RateLimiter
from workers.providers import provider_class
from workers.providers.base import Provider


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    signer: LinkSigner
    state: ProviderState
    limiter: RateLimiter
    pid: int = field(default_factory=os.getpid)
    _providers: dict[str, Provider] = field(default_factory=dict)
    #: The provider of the campaign whose batch this worker claimed last: the likeliest for the next one.
    last_primary: str | None = None

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = provider_class(name)(self.settings)
        return self._providers[name]

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self.db.dispose()
