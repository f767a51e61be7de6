"""Mailgun over its messages API (POST /v3/{domain}/messages, a multipart form, up to 1000 recipients).

Batch sending: one call repeats ``to`` and carries ``recipient-variables``, a
JSON object keyed by address; Mailgun sends every recipient their own message
and replaces ``%recipient.NAME%`` in the subject, bodies, ``h:`` headers and
``v:`` variables with that recipient's values. A call has one ``html`` and one
``text``, so per-recipient bodies are factored as for SendGrid
(``sendgrid.factor``): the shared text goes out with ``%recipient.bN%`` /
``%recipient.tN%`` in its gaps and each recipient's parts go in their
recipient variables. Headers that differ per recipient (List-Unsubscribe,
Message-ID) become ``%recipient.h_list_unsubscribe%`` and the like; our ids
are ``v:delivery_id`` and ``v:message_id`` (``%recipient.…%`` too) and come
back as user-variables in events. Mailgun substitutes only in batch calls, so
a lone recipient is sent literally; texts that contain ``%recipient``
themselves go one per call, as do emails with another sender, Reply-To,
campaign or header set, or a repeated address.

One invalid address makes Mailgun refuse the whole call (400 "'to' parameter
is not a valid address", naming nobody) before anything is queued, so the
adapter then sends the halves separately, down to the recipient at fault. A
404 means the domain is unknown at this base URL: an EU domain needs
NEWSLETTER_MAILGUN_BASE_URL=https://api.eu.mailgun.net, or
NEWSLETTER_MAILGUN_DOMAIN is wrong; that halts the campaign for an operator
(records stay open) instead of failing recipients. A 429 says "try again after
N seconds" in its body: N is the Retry-After.

No idempotency key exists: a call retried after a lost answer can deliver
twice. No rate limit is documented (NEWSLETTER_MAILGUN_REQUESTS_PER_SECOND sets
one). Messages up to 25 MB; o:, h: and v: fields up to 16 KB together.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, ClassVar

import requests

from publisher.core.addresses import SenderError
from publisher.core.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from workers.providers import http
from workers.providers.base import BUILD_ERRORS, Provider
from workers.providers.factoring import factor, send_grouped

#: Mailgun's cap on the o:, h:, v: and t: fields of a call, together.
OPTIONS_LIMIT = 16 * 1024
#: Our cap on one recipient's variables, so that a batch stays a small request.
VARIABLES_LIMIT = 10_000
TRY_AGAIN = re.compile(r"try again after (\d+) seconds?", re.IGNORECASE)
ADDRESS_REFUSED = re.compile(r"\bto'? parameter is not a valid address", re.IGNORECASE)

Form = list[tuple[str, str]]


class MailgunProvider(Provider):
    name: ClassVar[str] = "mailgun"
    max_batch_size: ClassVar[int] = 1000
    max_message_bytes: ClassVar[int | None] = 25 * 1024 * 1024
    required_settings: ClassVar[tuple[str, ...]] = ("mailgun_api_key", "mailgun_domain")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.auth = ("api", settings.credential("mailgun_api_key"))
        self.domain = settings.credential("mailgun_domain")
        self.base_url = settings.mailgun_base_url.rstrip("/")

    def send(self, emails: list[OutgoingEmail], batch_key: str = "adhoc") -> list[SendResult]:
        """Send in as few calls as Mailgun's batch sending allows (see the module docstring)."""
        return send_grouped(self, self._isolating, emails, batch_key, _call_key, self._fits)

    def _isolating(self, emails: list[OutgoingEmail], batch_key: str) -> list[SendResult]:
        results = super().send(emails, batch_key)
        if len(emails) > 1 and any(ADDRESS_REFUSED.search(result.error or "") for result in results):
            middle = len(emails) // 2
            return self._isolating(emails[:middle], f"{batch_key}a") + self._isolating(emails[middle:], f"{batch_key}b")
        return results

    def _fits(self, emails: list[OutgoingEmail]) -> bool:
        texts = (text for e in emails for text in (e.html, e.text, e.subject, *e.headers().values()))
        if len({e.to_address.lower() for e in emails}) < len(emails) or any("%recipient" in text for text in texts):
            return False
        try:
            form, variables = self._form(emails)
        except SenderError:
            return True  # the same for every email: prepare halts the whole call at once
        except BUILD_ERRORS:
            return False  # halved until the email that cannot be built goes alone, and fails alone
        options = sum(len(name) + len(value.encode()) for name, value in form if name[:2] in ("o:", "h:", "v:"))
        sizes = [len(http.json_body(own)) for own in variables.values()]
        total = sum(len(value.encode()) for _, value in form) + sum(sizes)
        return options <= OPTIONS_LIMIT and max(sizes) <= VARIABLES_LIMIT and total <= (self.max_message_bytes or total)

    def prepare(self, emails: list[OutgoingEmail]) -> Form:
        form, variables = self._form(emails)
        return [*form, ("recipient-variables", http.json_body(variables).decode())] if len(emails) > 1 else form

    def _form(self, emails: list[OutgoingEmail]) -> tuple[Form, dict[str, dict[str, str]]]:
        """The form fields and, for a batch, each recipient's variables."""
        variables: dict[str, dict[str, str]] = {email.to_address: {} for email in emails}

        def shared(name: str, values: list[str]) -> str:
            if len(set(values)) == 1:
                return values[0]
            for email, value in zip(emails, values, strict=True):
                variables[email.to_address][name] = value
            return f"%recipient.{name}%"

        def body(prefix: str, texts: list[str]) -> str:
            template = factor(texts)
            names = [f"{prefix}{i}" for i in range(template.slots)]
            for email, parts in zip(emails, template.parts, strict=True):
                variables[email.to_address].update(zip(names, parts, strict=True))
            return template.join([f"%recipient.{name}%" for name in names])

        first, headers = emails[0], [email.headers() for email in emails]
        form = [("from", first.from_header), *(("to", email.recipient) for email in emails)]
        form.append(("subject", shared("subject", [email.subject for email in emails])))
        bodies = (("text", body("t", [email.text for email in emails])), ("html", body("b", [email.html for email in emails])))
        form += [(name, value) for name, value in bodies if value]
        form += [(f"h:{name}", shared(_slug(f"h_{name}"), [own[name] for own in headers])) for name in headers[0]]
        if first.reply_to_header:
            form.append(("h:Reply-To", first.reply_to_header))
        form += [
            ("v:campaign_id", str(first.campaign_id)),
            ("v:delivery_id", shared("delivery_id", [str(email.delivery_id) for email in emails])),
            ("v:message_id", shared("message_id", [email.message_id for email in emails])),
            ("o:tag", f"campaign-{first.campaign_id}"),
        ]
        return form, variables

    def transmit(self, payload: Form, *, idempotency_key: str) -> requests.Response:
        # Mailgun has no idempotency key; idempotency_key is not sent.
        url = f"{self.base_url}/v3/{self.domain}/messages"
        files = [(name, (None, value)) for name, value in payload]  # (None, value): a form field, not a file
        response = http.post(url, files=files, auth=self.auth, timeout=self.settings.http_timeout)
        if response.status_code == 200:
            return response
        raise self._failure(response)

    def interpret(self, emails: list[OutgoingEmail], response: requests.Response) -> list[SendResult]:
        try:
            message_id = response.json()["id"]
        except (ValueError, TypeError, KeyError):
            message_id = None
        if not isinstance(message_id, str) or not message_id:
            return [SendResult.transient(email, f"unreadable answer: {http.describe(response)}") for email in emails]
        return [SendResult.accepted(email, message_id) for email in emails]

    def check(self) -> str:
        # The published spec documents GET for domains on /v4 only (/v3/domains/{name} is DELETE there).
        response = http.get(f"{self.base_url}/v4/domains/{self.domain}", auth=self.auth, timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise self._failure(response)
        try:
            state = str(response.json()["domain"]["state"])
        except (ValueError, TypeError, KeyError):
            state = "state not given"
        return f"domain {self.domain} ({state}) found at {self.base_url} with this API key"

    def _failure(self, response: requests.Response) -> TransientDeliveryError | PermanentDeliveryError:
        if response.status_code == 404:
            hint = "an EU domain needs NEWSLETTER_MAILGUN_BASE_URL=https://api.eu.mailgun.net"
            problem = f"Mailgun knows no domain {self.domain} at {self.base_url} ({hint}): {http.describe(response)}"
            return PermanentDeliveryError(problem, halt=Halt.CREDENTIALS)
        if response.status_code == 400:
            return PermanentDeliveryError(f"Mailgun refused the request: {_message(response)}")
        error = http.failure(response)
        if response.status_code == 429 and error.retry_after is None and (match := TRY_AGAIN.search(response.text)):
            error.retry_after = float(match.group(1))
        return error


def _call_key(email: OutgoingEmail) -> Hashable:
    return (email.sender, email.reply_to, email.campaign_id, tuple(email.headers()))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower())


def _message(response: requests.Response) -> str:
    try:
        answer: Any = response.json()
        return str(answer["message"])
    except (ValueError, TypeError, KeyError):
        return http.describe(response)
