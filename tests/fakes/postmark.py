"""A stand-in for Postmark's batch API: a real HTTP server on loopback.

It checks what Postmark checks (server token, required fields, batch size)
and answers in Postmark's shapes, including a 200 batch answer in which single
messages failed. Tests script its behaviour: addresses that fail with a given
ErrorCode, and whole-call answers (status, body, headers) to give next.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "test-server-token"
REQUIRED = ("From", "To", "Subject", "MessageStream")


@dataclass
class CannedAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakePostmark:
    server: ThreadingHTTPServer
    #: Every accepted message, as Postmark received it.
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: Every call: (path, headers, parsed body).
    calls: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    #: Address → (ErrorCode, Message) for a per-item failure inside a 200 answer.
    failing: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Whole-call answers to give, first one first, before normal service resumes.
    canned: list[CannedAnswer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def recipients(self) -> list[str]:
        with self.lock:
            return [message["To"] for message in self.messages]

    def answer(self, payload: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.calls.append(("/email/batch", headers, payload))
            if self.canned:
                canned = self.canned.pop(0)
                return canned.status, canned.body, canned.headers
        if headers.get("x-postmark-server-token") != TOKEN:
            message = "The Server Token you provided in the X-Postmark-Server-Token request header was invalid."
            return 401, {"ErrorCode": 10, "Message": message}, {}
        if not isinstance(payload, list) or len(payload) > 500:
            return 422, {"ErrorCode": 300, "Message": "Invalid JSON request or batch larger than 500 messages."}, {}
        results = []
        for message in payload:
            results.append(self._one(message))
        return 200, results, {}

    def _one(self, message: dict[str, Any]) -> dict[str, Any]:
        missing = [name for name in REQUIRED if not message.get(name)]
        if missing or not (message.get("HtmlBody") or message.get("TextBody")):
            return {"ErrorCode": 300, "Message": f"Invalid email request: missing {missing or ['body']}"}
        address = message["To"].rsplit("<", 1)[-1].rstrip(">")
        if address in self.failing:
            code, text = self.failing[address]
            return {"ErrorCode": code, "Message": text, "To": message["To"]}
        with self.lock:
            self.messages.append(message)
        return {"ErrorCode": 0, "Message": "OK", "MessageID": str(uuid.uuid4()), "To": message["To"], "SubmittedAt": "2026-01-01T00:00:00Z"}


def start_fake_postmark() -> FakePostmark:
    fake: FakePostmark

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.path != "/email/batch":
                self._reply(404, {"ErrorCode": 404, "Message": "not found"}, {})
                return
            try:
                payload = json.loads(raw)
            except ValueError:
                self._reply(422, {"ErrorCode": 300, "Message": "Invalid JSON"}, {})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, extra = fake.answer(payload, headers)
            self._reply(status, body, extra)

        def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakePostmark(server=server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake
