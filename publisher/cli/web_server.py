"""The web app under uvicorn in the foreground: what ``newsletter serve`` and ``newsletter demo --serve`` run."""

from __future__ import annotations

from dataclasses import dataclass

import uvicorn

from publisher.core.broker import check_reachable, redis_url
from publisher.core.settings import Settings
from publisher.web import access_log
from publisher.web.app import create_app
from workers.providers import check_provider


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8000
    #: Believe X-Forwarded-Proto/For from NEWSLETTER_TRUSTED_PROXIES.
    proxy_headers: bool = True


def serve_web(settings: Settings, listen: Listen) -> None:
    """Check Redis, build the app and serve it until interrupted (SIGINT or SIGTERM)."""
    check_reachable(redis_url(settings))
    web = create_app(settings, check_provider, metrics_host=listen.host)
    access_log.install()
    proxies = [ip.strip() for ip in settings.trusted_proxies.split(",") if ip.strip()] or None
    uvicorn.run(
        web, host=listen.host, port=listen.port, proxy_headers=listen.proxy_headers and proxies is not None, forwarded_allow_ips=proxies
    )
