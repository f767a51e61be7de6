"""A loopback stand-in for Amazon SNS: serves a signing certificate, answers SubscribeURLs, records every request.

SES events reach the app as SNS envelopes signed with a throwaway RSA key
(``make_identity``); this server serves that key's self-signed certificate, so
the app verifies signatures exactly as it does against AWS, and the tests see
which certificates were fetched and which SubscribeURLs visited.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.background import serve_in_background


@dataclass(frozen=True)
class SigningIdentity:
    """A private key and its certificate (PEM), as SNS signs with and serves."""

    key: rsa.RSAPrivateKey
    pem: bytes


def make_identity() -> SigningIdentity:
    """A throwaway RSA key with a self-signed certificate valid from yesterday to tomorrow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key, certificate.public_bytes(serialization.Encoding.PEM))


@dataclass
class FakeAws:
    """Loopback stand-in for SNS: serves the signing certificate, answers SubscribeURLs, records requests."""

    identity: SigningIdentity
    port: int = 0
    requests: list[str] = field(default_factory=list)
    #: Paths answered 404 (a certificate that is not there).
    missing: set[str] = field(default_factory=set)
    #: A fresh certificate name per server: the app caches certificates by URL for the whole process.
    cert_name: str = field(default_factory=lambda: f"SimpleNotificationService-{uuid.uuid4().hex}.pem")
    #: While true, certificate answers wait for ``release``: the test decides when a fetch ends.
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    #: Released once per request received (before a held answer waits).
    arrivals: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cert_url(self) -> str:
        return f"{self.origin}/{self.cert_name}"

    def fetched(self, prefix: str) -> list[str]:
        return [path for path in self.requests if path.startswith(prefix)]

    def new_cert_url(self) -> str:
        return f"{self.origin}/SimpleNotificationService-{uuid.uuid4().hex}.pem"

    def await_requests(self, count: int) -> None:
        """Wait until ``count`` more requests have arrived (the bound only stops a broken test hanging)."""
        for _ in range(count):
            assert self.arrivals.acquire(timeout=30), "the fake AWS server never received the request"


def handler_for(fake: FakeAws) -> type[BaseHTTPRequestHandler]:
    """Request handler class that answers for ``fake`` and records into it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append(self.path)
            fake.arrivals.release()
            if self.path.endswith(".pem") and fake.hold:
                fake.release.wait(timeout=30)
            if self.path.endswith(".pem") and self.path not in fake.missing:
                self._answer(200, fake.identity.pem)
            elif self.path.startswith("/?Action=ConfirmSubscription"):
                self._answer(200, b"<ConfirmSubscriptionResponse/>")
            else:
                self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_fake_aws(identity: SigningIdentity) -> Iterator[FakeAws]:
    """Serve a fake AWS for ``identity`` on a loopback port until the block ends."""
    fake = FakeAws(identity)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    fake.port = server.server_address[1]
    serve_in_background(server)
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
