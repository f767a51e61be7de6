"""Redirects to this site never name the host the caller claimed to reach.

Starlette's router answers ``/archive/`` with a redirect to ``/archive`` (and
the other way round), and builds that redirect as an absolute URL from the
request's ``Host`` header. A forged ``Host`` would then send the browser, or a
cache that stores the answer, to any site the caller chose. This middleware
rewrites a redirect whose absolute ``Location`` points at the request's own
host into a path on the same site, so every redirect the app gives (today's
and any added later) stays on the site the browser asked.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RelativeRedirects:
    """ASGI middleware: an absolute ``Location`` on the request's own host becomes a path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The authority Starlette builds absolute URLs from: the Host header, or the server's address without one.
        own = URL(scope=scope).netloc.lower()

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                headers = [(name, _relative(value, own) if name.lower() == b"location" else value) for name, value in message["headers"]]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_relative)


def _relative(location: bytes, own: str) -> bytes:
    parts = urlsplit(location.decode("latin-1"))
    if not parts.netloc or parts.netloc.lower() != own:
        return location
    # One leading slash: "//host/…" would be a protocol-relative URL, another site again.
    path = "/" + parts.path.lstrip("/")
    return urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")
