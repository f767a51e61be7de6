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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, ClassVar

import requests

from publisher.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.settings import Settings
from workers.message import OutgoingEmail
from workers.providers import http
from workers.providers.base import Outcome, Provider, SendResult
from workers.providers.signals import Halt, RateLimit

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
            "from": _address(*parseaddr(first.sender)),
            "content": [part for part in content if part["value"]],
            "categories": [f"campaign-{first.campaign_id}"],
            "custom_args": {"campaign_id": str(first.campaign_id)},
        }
        if first.reply_to:
            payload["reply_to"] = _address(*parseaddr(first.reply_to))
        if self.settings.sendgrid_asm_group_id is not None:
            payload["asm"] = {"group_id": self.settings.sendgrid_asm_group_id}
        return payload

    def _personalization(self, email: OutgoingEmail, substitutions: dict[str, str]) -> dict[str, Any]:
        to, ids = [_address(email.to_name, email.to_address)], {"delivery_id": str(email.delivery_id), "message_id": email.message_id}
        personalization = {"to": to, "subject": email.subject, "headers": email.headers(), "custom_args": ids}
        return personalization | ({"substitutions": substitutions} if substitutions else {})

    def transmit(self, payload: dict[str, Any], *, idempotency_key: str) -> requests.Response:
        # SendGrid has no idempotency key; idempotency_key is not sent.
        response = http.post(self.base_url + "/v3/mail/send", json=payload, headers=self.headers, timeout=self.settings.http_timeout)
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
    name = f'"{name}"' if "," in name or ";" in name else name
    return {"email": address, "name": name} if name else {"email": address}


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


# Batch factoring, shared with mailgun.py. MAX_PART: longest personal part looked for (a name, a
# signed URL); ANCHOR: characters all texts must share after one for the shared text to resume.
MAX_PART, ANCHOR = 2048, 24


@dataclass(frozen=True)
class Template:
    """Texts split into the literals they share and each text's own parts in between.

    ``texts[k] == literals[0] + parts[k][0] + literals[1] + … + literals[-1]``.
    """

    literals: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]

    @property
    def slots(self) -> int:
        return len(self.literals) - 1

    def join(self, names: Sequence[str]) -> str:
        return self.literals[0] + "".join(name + literal for name, literal in zip(names, self.literals[1:], strict=True))


def factor(texts: Sequence[str]) -> Template:
    """Split texts into shared literals and per-text parts, exactly for any input.

    Texts rendered from one template get short parts; texts that share nothing
    get one part holding each text's rest (callers check the sizes).
    """
    reference = texts[0]
    positions = [0] * len(texts)
    literals: list[str] = []
    parts: list[list[str]] = [[] for _ in texts]
    while True:
        length = len(reference) - positions[0]
        for text, position in zip(texts[1:], positions[1:], strict=True):
            length = _common(reference, positions[0], text, position, length)
        literals.append(reference[positions[0] : positions[0] + length])
        positions = [position + length for position in positions]
        if all(position == len(text) for text, position in zip(texts, positions, strict=True)):
            return Template(tuple(literals), tuple(tuple(own) for own in parts))
        ends = _resume(texts, positions)
        for own, text, start, end in zip(parts, texts, positions, ends, strict=True):
            own.append(text[start:end])
        positions = ends


def _common(a: str, i: int, b: str, j: int, limit: int) -> int:
    """Length of the common prefix of a[i:] and b[j:], at most ``limit``; work grows with the answer."""
    limit = min(limit, len(b) - j)
    low, step = 0, 64
    while low < limit:
        high = min(limit, low + step)
        if a[i + low : i + high] != b[j + low : j + high]:
            break
        low, step = high, step * 2
    else:
        return limit
    while high - low > 1:  # a[i:i+low] == b[j:j+low]; a[i:i+high] != b[j:j+high]
        middle = (low + high) // 2
        if a[i + low : i + middle] == b[j + low : j + middle]:
            low = middle
        else:
            high = middle
    return low


def _resume(texts: Sequence[str], positions: list[int]) -> list[int]:
    """Where the shared text resumes in each text: the first reference anchor all texts hold nearby."""
    reference, start = texts[0], positions[0]
    order = list(range(1, len(texts)))
    for skip in range(min(MAX_PART, len(reference) - start) + 1):
        anchor = reference[start + skip : start + skip + ANCHOR]
        tail = start + skip + ANCHOR >= len(reference)
        ends = {0: start + skip}
        for k in order:
            text, position = texts[k], positions[k]
            if tail:
                end = len(text) - len(anchor)
                found = position <= end <= position + MAX_PART and text.endswith(anchor)
            else:
                end = text.find(anchor, position, position + MAX_PART + ANCHOR)
                found = end >= 0
            if not found:
                order.remove(k)
                order.insert(0, k)  # the text that failed this anchor likely fails the next one too
                break
            ends[k] = end
        else:
            return [ends[k] for k in range(len(texts))]
    return [len(text) for text in texts]


def send_grouped(
    provider: Provider,
    send: Callable[[list[OutgoingEmail], str], list[SendResult]],
    emails: list[OutgoingEmail],
    batch_key: str,
    key: Callable[[OutgoingEmail], Hashable],
    fits: Callable[[list[OutgoingEmail]], bool],
) -> list[SendResult]:
    """Run ``send`` (the base sequence) per call: the batch split by ``key``, then halved until it ``fits``."""
    if len(emails) > provider.max_batch_size:
        raise ValueError(f"{provider.name} takes at most {provider.max_batch_size} emails per call, got {len(emails)}")

    def halves(group: list[OutgoingEmail]) -> list[list[OutgoingEmail]]:
        middle = len(group) // 2
        return [group] if len(group) <= 1 or fits(group) else halves(group[:middle]) + halves(group[middle:])

    groups: dict[Hashable, list[OutgoingEmail]] = {}
    for email in emails:
        groups.setdefault(key(email), []).append(email)
    results: dict[int, SendResult] = {}
    for index, call in enumerate(part for group in groups.values() for part in halves(group)):
        for result in send(call, batch_key if index == 0 else f"{batch_key}-{index}"):
            results[result.delivery_id] = result
    return [results[email.delivery_id] for email in emails]
