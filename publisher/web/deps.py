"""What every request handler shares: settings, database, Redis, the link signer and the confirmation queuer.

Confirmations (and the delivery tasks of outgoing webhooks) are queued on a thread of the application's own, not on the
worker threads that serve requests (Starlette's, shared by every sync
handler): with Redis slow or down, a burst of sign-ups would otherwise hold
them all, and every page after it would wait for a free one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated

import redis
from fastapi import Depends, Request

from publisher.core.broker import connect, redis_url
from publisher.core.links import LinkSigner, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.queue import deliver_webhooks_after_commit, enqueue_confirmation
from publisher.sending import ProviderCheck
from publisher.web.engagement_cache import EngagementCache


@dataclass
class WebContext:
    settings: Settings
    db: Database
    redis: redis.Redis
    signer: LinkSigner
    #: Where confirmations are queued after their sign-up is answered (one
    #: thread: queuing is a quick Redis write, and a slow one must not fan out).
    queuer: ThreadPoolExecutor
    #: Checks a provider's settings before a draft is sent through it (the workers' code, passed in).
    provider_check: ProviderCheck
    #: Puts a confirmation batch on the queue; replaceable so a test can make it slow.
    enqueue_confirmation: Callable[[Settings, Database, int], None] = enqueue_confirmation
    #: The campaign pages' opens and clicks, reused by their live fragments for a while.
    engagements: EngagementCache = field(default_factory=EngagementCache)

    @classmethod
    def build(cls, settings: Settings, provider_check: ProviderCheck) -> WebContext:
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        queuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confirmation-queue")
        # Confirmations, unsubscribes, bounces and sends announce webhooks: their
        # delivery task is queued once they commit, on the queuer's thread.
        deliver_webhooks_after_commit(settings, db, submit=queuer.submit)
        return cls(
            provider_check=provider_check,
            settings=settings,
            db=db,
            redis=connect(redis_url(settings), settings.redis_sentinel_master),
            signer=signer_for(settings),
            queuer=queuer,
        )

    def close(self) -> None:
        # Confirmations still waiting are queued before the connections close;
        # one that fails is sent by the workers' sweep.
        self.queuer.shutdown(wait=True)
        self.redis.close()
        self.db.dispose()


def web_context(request: Request) -> WebContext:
    """FastAPI dependency: the application's shared context."""
    context: WebContext = request.app.state.context
    return context


#: The parameter type of a handler that needs the shared context.
Context = Annotated[WebContext, Depends(web_context)]


def client_ip(request: Request, settings: Settings) -> str | None:
    """The client's address; X-Forwarded-For is believed only from a configured proxy."""
    peer = request.client.host if request.client else None
    trusted = {ip.strip() for ip in settings.trusted_proxies.split(",") if ip.strip()}
    forwarded = request.headers.get("x-forwarded-for")
    if peer in trusted and forwarded:
        # The right-most entry not added by one of our proxies is the client.
        for hop in reversed([part.strip() for part in forwarded.split(",")]):
            if hop and hop not in trusted:
                return hop[:45]
    return peer
