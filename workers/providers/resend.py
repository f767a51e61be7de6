"""Resend over its batch API (POST /emails/batch, up to 100 emails per call).

Idempotency: every call carries an ``Idempotency-Key`` header, the key the
base class derives from campaign, batch and recipients. Resend remembers a key
for 24 hours and answers a repeated call with the first call's answer without
sending again, so a batch retried after a lost answer (timeout, dropped
connection, worker killed mid-call) is never delivered twice. That only holds
because a batch is fixed when it is created and never re-chunked: the same
recipients always make the same body under the same key. A key reused with a
different body is refused (409 ``invalid_idempotent_request``, permanent); a
key whose first call is still running answers 409
``concurrent_idempotent_requests``, which is retried.

Validation: calls ask for Resend's *permissive* batch mode
(``x-batch-validation: permissive``). In the default strict mode one invalid
email fails the whole call (422) and would fail up to 99 good recipients with
it; permissive mode queues the valid ones and lists the others by index.

Limits: 2 requests per second by default (documented, per team; raise it with
NEWSLETTER_RESEND_REQUESTS_PER_SECOND once Resend has). 429
``daily_quota_exceeded`` (or ``monthly_quota_exceeded``) pauses the provider
instead of retrying. Emails may be up to 40 MB; batches take no attachments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, ClassVar

import requests

from publisher.core.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt, RateLimit
from workers.providers import http
from workers.providers.base import Provider

#: Longest Idempotency-Key Resend accepts.
MAX_KEY_LENGTH = 256
QUOTA_ERRORS = {"daily_quota_exceeded", "monthly_quota_exceeded"}


class ResendProvider(Provider):
    name: ClassVar[str] = "resend"
    max_batch_size: ClassVar[int] = 100
    max_message_bytes: ClassVar[int | None] = 40 * 1024 * 1024
    default_requests_per_second: ClassVar[float | None] = 2.0
    required_settings: ClassVar[tuple[str, ...]] = ("resend_api_key",)
    idempotent: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.key = settings.credential("resend_api_key")
        self.base_url = settings.resend_base_url.rstrip("/")

    def prepare(self, emails: list[OutgoingEmail]) -> list[dict[str, Any]]:
        return [self._message(email) for email in emails]

    def _message(self, email: OutgoingEmail) -> dict[str, Any]:
        message: dict[str, Any] = {
            "from": email.from_header,
            "to": [email.recipient],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            "headers": email.headers(),
            # Tag names and values allow only [A-Za-z0-9_-]: ids are digits.
            "tags": [
                {"name": "delivery_id", "value": str(email.delivery_id)},
                {"name": "campaign_id", "value": str(email.campaign_id)},
            ],
        }
        if email.reply_to:
            message["reply_to"] = email.reply_to_header
        return message

    def transmit(self, payload: list[dict[str, Any]], *, idempotency_key: str) -> requests.Response:
        headers = {**self._headers(), "Idempotency-Key": _fit(idempotency_key), "x-batch-validation": "permissive"}
        response = http.post_json(self.base_url + "/emails/batch", payload, headers=headers, timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise failure(response)
        return response

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Authorization": f"Bearer {self.key}"}

    def interpret(self, emails: list[OutgoingEmail], response: requests.Response) -> list[SendResult]:
        body = _json(response)
        data = body.get("data") if isinstance(body, dict) else None
        refused = _refused(body.get("errors") if isinstance(body, dict) else None, len(emails))
        if not isinstance(data, list) or refused is None or len(data) + len(refused) != len(emails):
            error = f"unreadable batch answer: {http.describe(response)}"
            return [SendResult.transient(email, error) for email in emails]
        # Permissive mode lists the created emails in request order, skipping the refused ones.
        created = iter(data)
        return [self._result(email, refused.get(index), created) for index, email in enumerate(emails)]

    def _result(self, email: OutgoingEmail, refusal: str | None, created: Iterator[Any]) -> SendResult:
        if refusal is not None:
            return SendResult.permanent(email, f"Resend refused this email: {refusal}")
        item = next(created)
        if not isinstance(item, dict) or not item.get("id"):
            return SendResult.transient(email, f"unreadable item in batch answer: {item!r}")
        return SendResult.accepted(email, str(item["id"]))

    def rate_limit(self, response: requests.Response) -> RateLimit | None:
        return http.rate_limit(response)

    def check(self) -> str:
        response = http.get(self.base_url + "/domains", headers=self._headers(), timeout=self.settings.http_timeout)
        if response.status_code == 200:
            domains = _json(response)
            count = len(domains.get("data") or []) if isinstance(domains, dict) else 0
            return f"API key accepted by {self.base_url} ({count} domain(s))"
        if response.status_code == 401 and _name(response) == "restricted_api_key":
            # A sending-only key (the recommended kind) may not list domains; Resend knowing it is the check.
            return f"sending-only API key accepted by {self.base_url}"
        raise failure(response)


def failure(response: requests.Response) -> TransientDeliveryError | PermanentDeliveryError:
    """The error for a non-200 answer, read from Resend's ``{statusCode, name, message}``."""
    name = _name(response)
    status = response.status_code
    text = _describe(response, name)
    if status == 429 and name in QUOTA_ERRORS:
        return TransientDeliveryError(f"quota used up: {text}", retry_after=http.retry_after(response), halt=Halt.QUOTA)
    if status == 409 and name == "concurrent_idempotent_requests":
        return TransientDeliveryError(text, retry_after=http.retry_after(response))
    if status == 409 and name == "invalid_idempotent_request":
        # The first call under this key was accepted, so these emails were most likely sent by it.
        return PermanentDeliveryError(f"an earlier call with this idempotency key was accepted with another body (sent then?): {text}")
    if status in (401, 403):
        return PermanentDeliveryError(f"credentials rejected: {text}", halt=Halt.CREDENTIALS)
    if status == 429 or status >= 500:
        return TransientDeliveryError(text, retry_after=http.retry_after(response), rate_limit=http.rate_limit(response))
    return PermanentDeliveryError(text)


def _describe(response: requests.Response, name: str | None) -> str:
    body = _json(response)
    if name and isinstance(body, dict):
        return f"HTTP {response.status_code} {name}: {body.get('message', '')}"
    return http.describe(response)


def _name(response: requests.Response) -> str | None:
    body = _json(response)
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _json(response: requests.Response) -> Any:
    try:
        return http.read_json(response)
    except ValueError:
        return None


def _refused(errors: Any, count: int) -> dict[int, str] | None:
    """Index → reason from permissive mode's ``errors``; None when they make no sense."""
    if errors is None:
        return {}
    if not isinstance(errors, list):
        return None
    refused: dict[int, str] = {}
    for error in errors:
        index = error.get("index") if isinstance(error, dict) else None
        if not isinstance(index, int) or not 0 <= index < count:
            return None
        refused[index] = str(error.get("message", "refused"))
    return refused


def _fit(key: str) -> str:
    """The key itself when Resend takes it, else a digest of it (just as stable across retries)."""
    return key if len(key) <= MAX_KEY_LENGTH else hashlib.sha256(key.encode()).hexdigest()
