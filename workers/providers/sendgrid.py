"""SendGrid over its v3 Mail Send API (POST /v3/mail/send, up to 1000 personalizations per call).

Per-recipient bodies: ``content`` is one for the whole call; a personalization
has only its recipient, subject, headers, custom_args and ≤ 10,000 bytes of
``substitutions``. Our bodies differ per recipient (greeting, signed links) and
are far larger, so ``factor`` splits the batch's bodies into the text they
share, sent as content with a unique token in each gap, and each recipient's
parts, sent as substitutions. The split is exact by construction (shared text
+ parts rebuilds every body byte for byte). Batches whose parts break the
limits go out in smaller calls, down to one recipient (no substitutions), as
do emails with another sender, Reply-To or campaign.

Each personalization has its own headers (List-Unsubscribe is per recipient)
and custom_args {delivery_id, message_id}: the 202 answer has an empty body and
one X-Message-Id for the whole call, stored for each of its recipients; events
are matched by custom_args. A 400 naming personalizations fails those
recipients and holds the rest back (transient): nothing was sent.

No idempotency key exists: a call retried after a lost answer can deliver
twice. No rate limit is documented (NEWSLETTER_SENDGRID_REQUESTS_PER_SECOND
sets one); X-RateLimit-* headers are passed on. Messages up to 30 MB. EU
accounts: NEWSLETTER_SENDGRID_BASE_URL=https://api.eu.sendgrid.com.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, ClassVar

import requests

from publisher.core.addresses import ascii_address, checked_name
from publisher.core.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt, RateLimit
from workers.providers import http
from workers.providers.base import Provider
from workers.providers.factoring import factor, send_grouped

#: SendGrid's cap on one personalization's substitutions, and the room one key (``%<8 hex>h<n>%``) takes.
SUBSTITUTIONS_LIMIT, KEY_BYTES = 10_000, 16
PERSONALIZATION = re.compile(r"^personalizations\.(\d+)(?:\.|$)")


class SendGridProvider(Provider):
    name: ClassVar[str] = "sendgrid"
    max_batch_size: ClassVar[int] = 1000
    max_message_bytes: ClassVar[int | None] = 30 * 1024 * 1024
    required_settings: ClassVar[tuple[str, ...]] = ("sendgrid_api_key",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.headers = {"Accept": "application/json", "Authorization": f"Bearer {settings.credential('sendgrid_api_key')}"}
        self.base_url = settings.sendgrid_base_url.rstrip("/")

    def send(self, emails: list[OutgoingEmail], batch_key: str = "adhoc") -> list[SendResult]:
        """Send in as few calls as SendGrid's limits allow (see the module docstring)."""
        return send_grouped(self, super().send, emails, batch_key, lambda e: (e.sender, e.reply_to, e.campaign_id), self._fits)

    def _fits(self, emails: list[OutgoingEmail]) -> bool:
        html, text = factor([e.html for e in emails]), factor([e.text for e in emails])
        per_recipient = [sum(len(p.encode()) + KEY_BYTES for p in html.parts[k] + text.parts[k]) for k in range(len(emails))]
        headers = sum(len(k) + len(v) + 8 for e in emails for k, v in e.headers().items())
        size = sum(len(literal.encode()) for literal in html.literals + text.literals) + sum(per_recipient) + headers
        return max(per_recipient) <= SUBSTITUTIONS_LIMIT and size <= (self.max_message_bytes or size)

    def prepare(self, emails: list[OutgoingEmail]) -> dict[str, Any]:
        first = emails[0]
        html, text = factor([e.html for e in emails]), factor([e.text for e in emails])
        nonce = _nonce(emails)
        html_keys = [f"%{nonce}h{i}%" for i in range(html.slots)]
        text_keys = [f"%{nonce}t{i}%" for i in range(text.slots)]
        content = [{"type": "text/plain", "value": text.join(text_keys)}, {"type": "text/html", "value": html.join(html_keys)}]
        payload: dict[str, Any] = {
            "personalizations": [
                self._personalization(email, dict(zip(html_keys + text_keys, html.parts[k] + text.parts[k], strict=True)))
                for k, email in enumerate(emails)
            ],
            "from": _address(*first.from_mailbox),
            "content": [part for part in content if part["value"]],
            "categories": [f"campaign-{first.campaign_id}"],
            "custom_args": {"campaign_id": str(first.campaign_id)},
        }
        if reply_to := first.reply_to_mailbox:
            payload["reply_to"] = _address(*reply_to)
        if self.settings.sendgrid_asm_group_id is not None:
            payload["asm"] = {"group_id": self.settings.sendgrid_asm_group_id}
        return payload

    def _personalization(self, email: OutgoingEmail, substitutions: dict[str, str]) -> dict[str, Any]:
        to, ids = [_address(email.to_name, email.to_address)], {"delivery_id": str(email.delivery_id), "message_id": email.message_id}
        personalization = {"to": to, "subject": email.subject, "headers": email.headers(), "custom_args": ids}
        return personalization | ({"substitutions": substitutions} if substitutions else {})

    def transmit(self, payload: dict[str, Any], *, idempotency_key: str) -> requests.Response:
        # SendGrid has no idempotency key; idempotency_key is not sent.
        response = http.post_json(self.base_url + "/v3/mail/send", payload, headers=self.headers, timeout=self.settings.http_timeout)
        if response.status_code == 202:
            return response
        if response.status_code == 400 and _refused(response, len(payload["personalizations"])):
            return response
        if 200 <= response.status_code < 300:
            raise TransientDeliveryError(f"unexpected answer (SendGrid accepts with 202): {http.describe(response)}")
        raise _failure(response)

    def interpret(self, emails: list[OutgoingEmail], response: requests.Response) -> list[SendResult]:
        if response.status_code == 400:
            refused = _refused(response, len(emails))
            others = "; ".join(refused.values())
            return [
                SendResult.permanent(email, f"SendGrid refused this recipient: {refused[k]}")
                if k in refused
                else SendResult.transient(email, f"not sent: SendGrid refused the call for other recipients ({others})")
                for k, email in enumerate(emails)
            ]
        message_id = response.headers.get("X-Message-Id") or None
        return [SendResult(email.delivery_id, Outcome.ACCEPTED, provider_message_id=message_id) for email in emails]

    def rate_limit(self, response: requests.Response) -> RateLimit | None:
        return http.rate_limit(response)

    def check(self) -> str:
        response = http.get(self.base_url + "/v3/scopes", headers=self.headers, timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise _failure(response)
        try:
            scopes = response.json()["scopes"]
        except (ValueError, TypeError, KeyError):
            scopes = None
        if not isinstance(scopes, list) or "mail.send" not in scopes:
            raise PermanentDeliveryError(f"the API key lacks the mail.send scope: {http.describe(response)}", halt=Halt.CREDENTIALS)
        return f"API key accepted by {self.base_url}, with the mail.send scope"


def _address(name: str, address: str) -> dict[str, str]:
    # SendGrid splits a name on , and ; unless it is quoted (sendgrid-python issue 578).
    # SendGrid writes the header itself: the name goes as text, the domain in punycode.
    name = checked_name(name)
    name = f'"{name}"' if "," in name or ";" in name else name
    return {"email": ascii_address(address), "name": name} if name else {"email": ascii_address(address)}


def _nonce(emails: list[OutgoingEmail]) -> str:
    while True:
        nonce = secrets.token_hex(4)
        if not any(f"%{nonce}" in part for email in emails for part in (email.html, email.text, email.subject)):
            return nonce


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json()["errors"]
        return [error for error in errors if isinstance(error, dict)]
    except (ValueError, TypeError, KeyError):
        return []


def _refused(response: requests.Response, count: int) -> dict[int, str]:
    """Personalization index → reason, when every error of a 400 names a personalization of the call."""
    refused: dict[int, str] = {}
    for error in _errors(response):
        match = PERSONALIZATION.match(str(error.get("field") or ""))
        if match is None or int(match.group(1)) >= count:
            return {}
        index, reason = int(match.group(1)), f"{error['field']}: {error.get('message', '')}"
        refused[index] = f"{refused[index]}; {reason}" if index in refused else reason
    return refused


def _failure(response: requests.Response) -> TransientDeliveryError | PermanentDeliveryError:
    if response.status_code == 400:
        reasons = "; ".join(f"{e.get('field') or 'request'}: {e.get('message', '')}" for e in _errors(response))
        return PermanentDeliveryError(f"SendGrid refused the request: {reasons or http.describe(response)}")
    error = http.failure(response)
    # Without Retry-After, the end of the rate-limit window says when to come back.
    if response.status_code == 429 and error.retry_after is None and error.rate_limit is not None:
        error.retry_after = error.rate_limit.reset_after
    return error
