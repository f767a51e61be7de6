"""Postmark over its batch API (POST /email/batch, up to 500 messages per call).

Newsletters must go out on a Broadcast message stream. Postmark answers 200
for a batch even when single messages fail, so every item's ErrorCode is read.
Postmark has no idempotency key: a batch retried after a lost answer can be
delivered twice; the delivery engine, not this adapter, guards against that.
No rate limit is documented: unlimited until NEWSLETTER_POSTMARK_REQUESTS_PER_SECOND
is set. Messages (with attachments) may be up to 10 MB.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from publisher.core.addresses import SenderError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import SendResult
from publisher.core.settings import Settings
from workers.providers import http
from workers.providers.base import BUILD_ERRORS, Provider

#: Per-message error codes that are worth retrying (100: maintenance).
TRANSIENT_CODES = {100}
#: 406: the recipient is inactive (hard bounced, complained or unsubscribed at Postmark).
INACTIVE_RECIPIENT = 406


class PostmarkProvider(Provider):
    name: ClassVar[str] = "postmark"
    max_batch_size: ClassVar[int] = 500
    max_message_bytes: ClassVar[int | None] = 10 * 1024 * 1024
    required_settings: ClassVar[tuple[str, ...]] = ("postmark_api_key",)
    json_bodies: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.token = settings.credential("postmark_api_key")
        self.base_url = settings.postmark_base_url.rstrip("/")
        self.url = self.base_url + "/email/batch"

    def prepare(self, emails: list[OutgoingEmail]) -> list[Any]:
        return [self._message(email) if email.encoded is None else http.Encoded(email.encoded) for email in emails]

    def keep(self, email: OutgoingEmail) -> OutgoingEmail:
        # An email that send() must refuse or fail alone is kept whole, so it does.
        if self._oversized(email):
            return email
        try:
            encoded = http.object_json(self._envelope(email), self._bodies(email))
        except (SenderError, *BUILD_ERRORS):
            return email
        if encoded is None:
            return email
        return email.kept_as(encoded)

    def _message(self, email: OutgoingEmail) -> dict[str, Any]:
        # The bodies last, as ``keep`` writes them.
        return self._envelope(email) | self._bodies(email)

    def _envelope(self, email: OutgoingEmail) -> dict[str, Any]:
        message: dict[str, Any] = {
            "From": email.from_header,
            "To": email.recipient,
            "Subject": email.subject,
            "MessageStream": self.settings.postmark_message_stream,
            "Tag": f"campaign-{email.campaign_id}",
            "Metadata": {"delivery_id": str(email.delivery_id), "message_id": email.message_id},
            "Headers": [{"Name": name, "Value": value} for name, value in email.headers().items()],
        }
        if email.reply_to:
            message["ReplyTo"] = email.reply_to_header
        return message

    @staticmethod
    def _bodies(email: OutgoingEmail) -> dict[str, Any]:
        if email.json_bodies is None:
            return {"HtmlBody": email.html, "TextBody": email.text}
        html, text = email.json_bodies
        return {"HtmlBody": html, "TextBody": text}

    def transmit(self, payload: list[Any], *, idempotency_key: str) -> requests.Response:
        response = http.post_json(self.url, payload, headers=self._headers(), timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise http.failure(response)
        return response

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "X-Postmark-Server-Token": self.token}

    def check(self) -> str:
        response = http.get(self.base_url + "/server", headers=self._headers(), timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise http.failure(response)
        return f"server token accepted by {self.base_url}"

    def interpret(self, emails: list[OutgoingEmail], response: requests.Response) -> list[SendResult]:
        try:
            items = http.read_json(response)
        except ValueError:
            items = None
        if not isinstance(items, list) or len(items) != len(emails):
            error = f"unreadable batch answer: {http.describe(response)}"
            return [SendResult.transient(email, error) for email in emails]
        return [self._result(email, item) for email, item in zip(emails, items, strict=True)]

    def _result(self, email: OutgoingEmail, item: Any) -> SendResult:
        if not isinstance(item, dict) or "ErrorCode" not in item:
            return SendResult.transient(email, f"unreadable item in batch answer: {item!r}")
        code = item["ErrorCode"]
        if code == 0:
            return SendResult.accepted(email, str(item.get("MessageID", "")))
        error = f"Postmark ErrorCode {code}: {item.get('Message', '')}"
        if code in TRANSIENT_CODES:
            return SendResult.transient(email, error)
        return SendResult.permanent(email, error, suppress=code == INACTIVE_RECIPIENT)
