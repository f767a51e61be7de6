"""Amazon SNS envelopes over HTTP: check the signature, then confirm subscriptions.

SNS posts one JSON document per call (``Content-Type: text/plain``). Its
``Signature`` is an RSA signature (PKCS#1 v1.5; SHA-1 for ``SignatureVersion``
1, SHA-256 for 2) over a canonical string built from some of the document's
fields, made with the key of the X.509 certificate at ``SigningCertURL``.

The order of the checks matters, because the certificate URL comes from the
caller: the URL must fully match NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN (by
default only ``https://sns.<region>.amazonaws.com/SimpleNotificationService-<hex>.pem``)
before it is fetched, so a forged message cannot make us fetch from anywhere
else, nor pick a new path per call. The
topic must be one of NEWSLETTER_SES_SNS_TOPIC_ARNS: SNS signs every AWS
account's messages with the same certificates, so a valid signature alone
proves nothing about who sent it, and with no topics configured every call
is refused. Nothing in ``Message`` is read until the signature has been
verified.

Certificates are fetched before the caller is authenticated, so fetching is
kept rare, and a caller never queues behind the fetch of another certificate
(webhooks run on the web app's small thread pool, which the unsubscribe and
confirm pages share):

- a key is kept for a day (and never past its certificate's expiry), a failed
  fetch is remembered for a minute, and a full cache drops its least recently
  used entry, not all of them;
- calls wanting a certificate whose fetch is running wait for that fetch (a
  few of them, for a bounded time) rather than fetching it again;
- at most MAX_CONCURRENT_FETCHES fetches run at once: a call that would start
  another gets 503 with Retry-After at once, without fetching;
- after MAX_FAILED_FETCHES failed fetches within FAILURE_WINDOW, certificates
  this process has never fetched get 503 without a fetch until the window
  moves on (one it fetched before may still be fetched again, so a flood of
  made-up URLs cannot stop SNS's own certificate from being renewed).

Timestamps are not checked: SNS retries for up to an hour by default (longer
with a custom delivery policy), and a replayed notification is harmless
because events are stored once per SNS ``MessageId``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from cachetools import LRUCache, TTLCache
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from publisher.core.settings import Settings
from publisher.web.webhooks.base import WebhookRejected, malformed, now, parse_json, parse_time, unauthorized

log = logging.getLogger(__name__)

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

#: The signed fields of each message type, in the order of the string to sign.
#: ``Subject`` is signed only when the notification has one.
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL_FIELDS = {"Subject"}
SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

#: An SNS signing certificate is about 2 KB; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024
#: Certificates kept in memory (SNS uses one per region at a time, rotated rarely).
CACHE_SIZE = 32
#: Seconds a fetched certificate's key is used before it is fetched again.
CERTIFICATE_TTL = 24 * 3600.0
#: Seconds a failed fetch is answered from memory: long enough that a stream of forged
#: calls naming a missing certificate fetches it about once a minute, short enough that
#: SNS's own retries get through soon after a network fault.
FAILURE_TTL = 60.0
#: Certificate fetches running at once in one process; a call that would start another gets 503.
MAX_CONCURRENT_FETCHES = 2
#: Calls that may wait for a fetch of the same certificate already running; any more get 503.
MAX_WAITERS = 4
#: Failed fetches within FAILURE_WINDOW seconds after which certificates never fetched before get 503
#: without a fetch. SNS uses one certificate per region, so real traffic never gets near it.
MAX_FAILED_FETCHES = 10
FAILURE_WINDOW = 60.0
#: Retry-After (seconds) when fetches are busy: about one fetch's time.
BUSY_RETRY_AFTER = 5


@dataclass(frozen=True)
class Envelope:
    """An SNS message whose signature (and topic) checked out."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signing_cert_url: str
    subscribe_url: str | None = None


def verified_envelope(raw_body: bytes, settings: Settings) -> Envelope:
    """The SNS envelope in ``raw_body`` once its certificate URL, topic and signature are checked."""
    document = parse_json(raw_body)
    if not isinstance(document, dict):
        raise malformed("an SNS message is a JSON object")
    kind = document.get("Type")
    if kind not in SIGNED_FIELDS:
        raise malformed(f"not an SNS message: Type {str(kind)[:40]!r} is none of {', '.join(SIGNED_FIELDS)}")
    signature, cert_url, version = (_text(document, name) for name in ("Signature", "SigningCertURL", "SignatureVersion"))
    if not (signature and cert_url and version):
        raise unauthorized("unsigned SNS message: Signature, SignatureVersion and SigningCertURL are required")
    if version not in SIGNATURE_HASHES:
        raise unauthorized(f"unsupported SNS SignatureVersion {version[:10]!r} (1 and 2 are known)")
    check_certificate_url(cert_url, settings)
    check_topic(_text(document, "TopicArn"), settings)
    payload = string_to_sign(document)
    key = signing_key(cert_url, settings)
    try:
        key.verify(_signature_bytes(signature), payload, padding.PKCS1v15(), SIGNATURE_HASHES[version]())
    except InvalidSignature as exc:
        raise unauthorized("SNS signature does not match the message") from exc
    return Envelope(
        type=kind,
        message_id=document["MessageId"],
        topic_arn=document["TopicArn"],
        message=document["Message"],
        timestamp=document["Timestamp"],
        signing_cert_url=cert_url,
        subscribe_url=_text(document, "SubscribeURL"),
    )


def string_to_sign(document: dict[str, Any]) -> bytes:
    """The canonical ``name\\nvalue\\n`` string SNS signed for this message type."""
    lines: list[str] = []
    for name in SIGNED_FIELDS[document["Type"]]:
        value = document.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise unauthorized(f"SNS message lacks the signed field {name}")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode()


def check_certificate_url(url: str, settings: Settings) -> None:
    """401 unless the certificate URL fully matches the configured pattern (checked before any fetch)."""
    try:
        pattern = re.compile(settings.sns_certificate_url_pattern)
    except re.error as exc:
        log.error("NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN is not a valid regular expression: %s", exc)
        raise unauthorized("SNS messages cannot be verified: NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN is not a valid expression") from exc
    # A user name or password in the URL could make the host the pattern saw differ from the one connected to.
    if pattern.fullmatch(url) is None or "@" in urlsplit(url).netloc:
        raise unauthorized(f"SigningCertURL {url[:200]!r} is not an SNS certificate URL (NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN)")


def check_topic(topic_arn: str | None, settings: Settings) -> None:
    """401 until topics are configured, and for a message from any other topic.

    Checked before the signature (so no certificate is fetched for a foreign
    topic), hence 401 like every other unauthenticated call.
    """
    allowed = {arn.strip() for arn in settings.ses_sns_topic_arns.split(",") if arn.strip()}
    if not allowed:
        raise unauthorized("SES webhooks are not configured: set NEWSLETTER_SES_SNS_TOPIC_ARNS to the topics SES publishes to")
    if not topic_arn:
        raise unauthorized("SNS message lacks the signed field TopicArn")
    if topic_arn not in allowed:
        raise unauthorized(f"SNS topic {topic_arn[:200]!r} is not in NEWSLETTER_SES_SNS_TOPIC_ARNS")


@dataclass(frozen=True)
class _Certificate:
    key: RSAPublicKey
    not_valid_after: dt.datetime


@dataclass
class _Fetch:
    """A fetch in flight, and how many calls wait for it."""

    done: threading.Event = field(default_factory=threading.Event)
    waiters: int = 0


class CertificateCache:
    """Signing keys by certificate URL, the refusals of failed fetches, and the fetches in flight.

    ``clock`` is the monotonic clock the expiries and the failure window are measured on.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._keys: TTLCache[str, _Certificate] = TTLCache(maxsize=CACHE_SIZE, ttl=CERTIFICATE_TTL, timer=clock)
        # The failure budget admits about MAX_FAILED_FETCHES new failures per FAILURE_TTL, so these fit.
        self._failures: TTLCache[str, WebhookRejected] = TTLCache(maxsize=CACHE_SIZE, ttl=FAILURE_TTL, timer=clock)
        # URLs fetched successfully before: exempt from the failure budget when their key must be fetched again.
        self._fetched_before: LRUCache[str, bool] = LRUCache(maxsize=CACHE_SIZE)
        # When the latest failed fetches failed; the budget is spent when the oldest is still in the window.
        self._failed_at: deque[float] = deque(maxlen=MAX_FAILED_FETCHES)
        self._in_flight: dict[str, _Fetch] = {}
        self._lock = threading.Lock()

    def key(self, url: str, timeout: float) -> RSAPublicKey:
        """The RSA key of the certificate at ``url``; fetched only when not known or failed lately.

        Never queues behind another certificate's fetch: 503 with Retry-After instead.
        """
        with self._lock:
            known = self._known(url)
            if known is not None:
                return known
            fetch = self._in_flight.get(url)
            if fetch is None:
                self._admit(url)
                fetch = self._in_flight[url] = _Fetch()
                mine = True
            elif fetch.waiters >= MAX_WAITERS:
                raise _busy("too many calls are waiting for this SNS signing certificate")
            else:
                fetch.waiters += 1
                mine = False
        return self._fetch(url, timeout, fetch) if mine else self._wait(url, timeout, fetch)

    def waiting(self, url: str) -> int:
        """How many calls wait for the fetch of ``url`` now running (0 when none runs)."""
        with self._lock:
            fetch = self._in_flight.get(url)
            return fetch.waiters if fetch is not None else 0

    def _admit(self, url: str) -> None:
        """Raise 503 unless a new fetch of ``url`` may start now (called holding the lock)."""
        if len(self._in_flight) >= MAX_CONCURRENT_FETCHES:
            raise _busy("SNS signing certificates are being fetched for other calls")
        if url in self._fetched_before or len(self._failed_at) < MAX_FAILED_FETCHES:
            return
        wait = self._failed_at[0] + FAILURE_WINDOW - self._clock()
        if wait > 0:
            raise WebhookRejected(
                503,
                f"SNS signing certificate not fetched: {MAX_FAILED_FETCHES} fetches failed in the last {FAILURE_WINDOW:.0f} seconds",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def _fetch(self, url: str, timeout: float, fetch: _Fetch) -> RSAPublicKey:
        try:
            certificate = _load_certificate(_fetch(url, timeout), url)
        except WebhookRejected as exc:
            with self._lock:
                self._failures[url] = exc
                self._failed_at.append(self._clock())
            raise
        else:
            with self._lock:
                self._keys[url] = certificate
                self._fetched_before[url] = True
            return certificate.key
        finally:
            with self._lock:
                del self._in_flight[url]
            fetch.done.set()

    def _wait(self, url: str, timeout: float, fetch: _Fetch) -> RSAPublicKey:
        """The key the running fetch of ``url`` got, or its refusal; 503 if it takes too long."""
        # A fetch may take a connect and a read timeout; past that the caller is better off retrying.
        fetch.done.wait(2 * timeout)
        with self._lock:
            fetch.waiters -= 1
            known = self._known(url)
        if known is None:
            raise _busy("the SNS signing certificate is still being fetched")
        return known

    def _known(self, url: str) -> RSAPublicKey | None:
        """The cached key, or None to fetch; raises the remembered refusal of a recent failed fetch (holding the lock)."""
        certificate = self._keys.get(url)
        if certificate is not None and now() > certificate.not_valid_after:
            del self._keys[url]
            certificate = None
        if certificate is not None:
            return certificate.key
        failure = self._failures.get(url)
        if failure is not None:
            raise WebhookRejected(failure.status, failure.message, failure.headers)
        return None


def _busy(reason: str) -> WebhookRejected:
    return WebhookRejected(503, f"{reason}; try again shortly", {"Retry-After": str(BUSY_RETRY_AFTER)})


_cache = CertificateCache()


def signing_key(url: str, settings: Settings) -> RSAPublicKey:
    """The RSA key of the certificate at ``url``, from this process's cache."""
    return _cache.key(url, settings.http_timeout)


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                status = 503 if response.status_code >= 500 else 401
                raise WebhookRejected(status, f"SNS signing certificate not available: HTTP {response.status_code} from {_origin(url)}")
            body: bytes = response.raw.read(MAX_CERTIFICATE_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise WebhookRejected(503, f"cannot fetch the SNS signing certificate from {_origin(url)}: {type(exc).__name__}") from exc
    if len(body) > MAX_CERTIFICATE_BYTES:
        raise unauthorized(f"SNS signing certificate from {_origin(url)} is larger than {MAX_CERTIFICATE_BYTES} bytes")
    return body


def _load_certificate(pem: bytes, url: str) -> _Certificate:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise unauthorized(f"{_origin(url)} did not serve a PEM certificate") from exc
    moment = now()
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise unauthorized(f"SNS signing certificate from {_origin(url)} is not valid at {moment:%Y-%m-%d %H:%M} UTC")
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise unauthorized("SNS signing certificate does not hold an RSA key")
    return _Certificate(key, certificate.not_valid_after_utc)


def _signature_bytes(signature: str) -> bytes:
    try:
        return base64.b64decode(signature, validate=True)
    except binascii.Error as exc:
        raise unauthorized("SNS Signature is not base64") from exc


def confirm_subscription(envelope: Envelope, settings: Settings) -> None:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation.

    The URL must have the scheme and host of the certificate URL the pattern
    accepted (SNS serves both from ``sns.<region>.amazonaws.com``): a signed
    message is from SNS, but the check keeps us from visiting anything that
    is not SNS even if that ever changed.
    """
    url = envelope.subscribe_url or ""
    if _origin(url) != _origin(envelope.signing_cert_url) or "@" in urlsplit(url).netloc:
        raise malformed(f"SubscribeURL is not on {_origin(envelope.signing_cert_url)}, where the certificate came from")
    try:
        response = requests.get(url, timeout=settings.http_timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookRejected(503, f"cannot reach {_origin(url)} to confirm the subscription: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise WebhookRejected(503, f"{_origin(url)} answered HTTP {response.status_code} to the subscription confirmation")
    # The URL holds the confirmation token: log the topic only.
    log.info("confirmed the SNS subscription to %s", envelope.topic_arn)


def envelope_time(envelope: Envelope) -> dt.datetime | None:
    """When SNS published the message (its signed ``Timestamp``)."""
    return parse_time(envelope.timestamp)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value else None
