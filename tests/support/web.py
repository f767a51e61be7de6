"""The real web app under uvicorn on a loopback port, in a thread of the test process, and links pointed at it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI

from publisher.core.links import LinkTarget, signer_for
from publisher.core.settings import Settings

STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yield its base URL."""
    # As `newsletter serve` runs it: no proxy headers believed unless the app's settings say so.
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)


def link(settings: Settings, base_url: str, purpose: str, target: LinkTarget) -> str:
    """The signed link the service would send, pointed at the served app instead of NEWSLETTER_PUBLIC_URL."""
    return on(base_url, signer_for(settings).url(purpose, target))


def on(base_url: str, url: str) -> str:
    """``url`` with its scheme and host replaced by the served app's."""
    parts = urlsplit(url)
    return base_url + parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
