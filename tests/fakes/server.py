"""The fake email provider: one real HTTP server on loopback that speaks each provider's shapes.

Each provider is a ``Handler`` (tests/fakes/<provider>.py) that checks what the
real API checks (credentials, required fields, batch limits) and answers in
its shapes. The server records every accepted message and injects faults on
demand, the same way for every provider:

- ``canned``: whole-call answers to give next (status, body, headers), verbatim;
- ``throttle``: the next N calls get 429 with Retry-After, in the provider's shape;
- ``error_rate``: that fraction of calls get a 5xx in the provider's shape;
- ``delay``: seconds to wait before every answer (slow provider);
- ``hang``: the next N calls wait ``hang_seconds`` (longer than a client timeout);
- ``reject``: address → reason, a per-recipient rejection in the provider's shape.
"""

from __future__ import annotations

import abc
import contextlib
import json
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.fakes.background import serve_in_background

#: struct timeval, as SO_TIMESTAMP delivers it. Python names neither the
#: option nor its message type; 29 is both on Linux.
TIMEVAL = struct.Struct("@ll")
SO_TIMESTAMP = SCM_TIMESTAMP = 29


@dataclass
class CannedAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    #: When the request's first packet reached the machine (wall clock, from the kernel where it can tell).
    arrived: float = field(default_factory=time.time)

    def json(self) -> Any:
        # orjson reads a 16 MB batch in a tenth of the time: the fake stands
        # for a remote service, and its CPU on this machine is the bench's
        # noise. What orjson refuses (a lone surrogate's escape, a number
        # beyond 64 bits, another encoding) is read as the standard library reads it.
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Accepted:
    """One message the fake accepted, in a provider-neutral form."""

    provider: str
    to: str
    subject: str
    message_id: str
    raw: Any


@dataclass
class Faults:
    canned: list[CannedAnswer] = field(default_factory=list)
    throttle: int = 0
    retry_after: str = "1"
    error_rate: float = 0.0
    delay: float = 0.0
    hang: int = 0
    hang_seconds: float = 5.0
    reject: dict[str, tuple[int, str]] = field(default_factory=dict)


class Handler(abc.ABC):
    """One provider's API, as far as the adapters use it."""

    name: str

    @abc.abstractmethod
    def route(self, method: str, path: str) -> bool:
        """Whether this handler answers ``method path``."""

    @abc.abstractmethod
    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        """Answer a call in normal service (per-recipient rejections included)."""

    @abc.abstractmethod
    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        """An error answer in the provider's shape."""


@dataclass
class FakeProviders:
    server: ThreadingHTTPServer
    handlers: list[Handler]
    faults: Faults = field(default_factory=Faults)
    accepted: list[Accepted] = field(default_factory=list)
    #: Every call: (provider name, request).
    calls: list[tuple[str, Request]] = field(default_factory=list)
    #: When each call arrived: (provider name, ``Request.arrived``).
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()

    def recipients(self, provider: str | None = None) -> list[str]:
        with self.lock:
            return [a.to for a in self.accepted if provider is None or a.provider == provider]

    def accept(self, message: Accepted) -> None:
        with self.lock:
            self.accepted.append(message)

    def call_times(self, provider: str) -> list[float]:
        with self.lock:
            return [at for name, at in self.arrivals if name == provider]

    def calls_to(self, provider: str) -> list[Request]:
        with self.lock:
            return [request for name, request in self.calls if name == provider]

    def answer(self, request: Request) -> Reply:
        handler = next((h for h in self.handlers if h.route(request.method, request.path)), None)
        if handler is None:
            return Reply(404, {"message": f"no fake endpoint for {request.method} {request.path}"})
        with self.lock:
            self.calls.append((handler.name, request))
            self.arrivals.append((handler.name, request.arrived))
            canned = self.faults.canned.pop(0) if self.faults.canned else None
            throttled = self.faults.throttle > 0
            self.faults.throttle -= 1 if throttled else 0
            hang = self.faults.hang > 0
            self.faults.hang -= 1 if hang else 0
        if hang:
            time.sleep(self.faults.hang_seconds)
        if self.faults.delay:
            time.sleep(self.faults.delay)
        if canned is not None:
            return Reply(canned.status, canned.body, canned.headers)
        if throttled:
            return handler.error(429, "rate limit exceeded", {"Retry-After": self.faults.retry_after})
        if self.faults.error_rate and random.random() < self.faults.error_rate:
            return handler.error(503, "service unavailable")
        return handler.handle(request, self)


def _wire_time(connection: socket.socket) -> float:
    """When the next request's first packet arrived, by the kernel's stamp; now, where there is none.

    Peeks without consuming: clients here send a request only after the
    answer to the one before, so nothing is left in the handler's buffer.
    """
    select.select([connection], [], [])
    try:
        _, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_SPACE(TIMEVAL.size), socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return time.time()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMP:
            seconds, microseconds = TIMEVAL.unpack(data[: TIMEVAL.size])
            return float(seconds + microseconds / 1_000_000)
    return time.time()


def start_fake_providers(*handlers: Handler) -> FakeProviders:
    fake: FakeProviders

    class HTTPHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, every answer
        # waits ~40 ms for the client's delayed ACK, which no provider does.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            # The kernel stamps each packet as it arrives. The test process
            # that runs this fake can be starved of CPU for a moment (the
            # suite runs in two processes beside the workers); the calls that
            # arrived meanwhile must not then look as if they came together.
            with contextlib.suppress(OSError):  # elsewhere: no stamps, the time of reading
                self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)

        def handle_one_request(self) -> None:
            self.arrived = _wire_time(self.connection)
            super().handle_one_request()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self.rfile.read(length),
                arrived=self.arrived,
            )
            reply = fake.answer(request)
            data = reply.encoded()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hung up (a killed worker, a timeout) is part of
            # the tests, not an error worth a traceback.
            pass

    server = QuietServer(("127.0.0.1", 0), HTTPHandler)
    server.daemon_threads = True
    fake = FakeProviders(server=server, handlers=list(handlers))
    serve_in_background(server)
    return fake


def all_handlers() -> list[Handler]:
    """Every provider the fake speaks."""
    import importlib
    import pkgutil

    import tests.fakes as package

    handlers: list[Handler] = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name in ("server", "__init__"):
            continue
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        classes = [value for value in vars(loaded).values() if isinstance(value, type) and issubclass(value, Handler)]
        handlers.extend(value() for value in classes if value is not Handler)
    return handlers
