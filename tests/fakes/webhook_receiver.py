"""A receiver of outgoing webhooks on a loopback port: it verifies each call's signature with svix, as a customer would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from svix.webhooks import Webhook, WebhookVerificationError

from tests.fakes.background import serve_in_background


@dataclass(frozen=True)
class Received:
    """One call as it arrived, and whether its signature verified under the receiver's secret."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """What the server received, the secret it verifies with, and the statuses it answers (200 once they run out)."""

    base_url: str = ""
    secret: str | None = None
    statuses: list[int] = field(default_factory=list)
    calls: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The reason phrase of the status line (the server's usual one when None).
    reason: str | None = None
    #: Called with each call before it is answered (what happens meanwhile elsewhere: time moved, an endpoint removed).
    on_call: Callable[[Received], None] | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks"

    def of_type(self, event_type: str) -> list[Received]:
        with self.lock:
            return [call for call in self.calls if call.payload.get("type") == event_type]

    def _answer(self, received: Received) -> int:
        if self.on_call is not None:
            self.on_call(received)
        with self.lock:
            self.calls.append(received)
            return self.statuses.pop(0) if self.statuses else 200


def _verify(secret: str | None, headers: dict[str, str], body: bytes) -> bool:
    if secret is None:
        return False
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 until the block ends."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver._answer(Received(self.path, headers, body, _verify(receiver.secret, headers, body)))
            self.send_response(status, receiver.reason)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    serve_in_background(server)
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
