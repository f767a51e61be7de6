"""What every request handler shares: settings, database, Redis and the link signer."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from fastapi import Request

from publisher.broker import connect, redis_url
from publisher.db.engine import Database, open_database
from publisher.links import LinkSigner, signer_for
from publisher.settings import Settings


@dataclass
class WebContext:
    settings: Settings
    db: Database
    redis: redis.Redis
    signer: LinkSigner

    @classmethod
    def build(cls, settings: Settings) -> WebContext:
        return cls(
            settings=settings,
            db=open_database(settings.resolved_database_url, settings.secret_keys),
            redis=connect(redis_url(settings)),
            signer=signer_for(settings),
        )

    def close(self) -> None:
        self.redis.close()
        self.db.dispose()


def web_context(request: Request) -> WebContext:
    """FastAPI dependency: the application's shared context."""
    context: WebContext = request.app.state.context
    return context


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
