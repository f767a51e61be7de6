"""Amazon SES over the v2 API: SendEmail (POST /v2/email/outbound-emails), one message per call.

SendEmail takes one message (up to 50 recipients, all getting the same body
and headers), and every subscriber needs their own body and List-Unsubscribe
header, so each email is its own call. SendBulkEmail is no way out: it needs
templates stored at SES. The base class calls ``transmit`` once per batch, so
``prepare`` builds one request per email and ``transmit`` makes the calls one
after another and returns one outcome per email; ``interpret`` maps each.

Once a call fails as a whole (timeout, refused connection, throttling, 5xx,
quota, credentials) the rest of the batch is not sent and comes back as
transient: the next calls would fail the same way. A message SES rejects
(MessageRejected, BadRequestException) fails alone and the batch goes on. The
calls of a batch also stop after ``BUDGET_TIMEOUTS`` HTTP timeouts, so a slow
SES never keeps a batch past the lease the delivery engine holds on it
(at least six HTTP timeouts, ``workers.delivery.batch.lease_for``).

Every request is signed with SigV4 (service ``ses``) by botocore's signer.
SES has no idempotency key: a call that timed out may still have been sent,
and retrying it may deliver that one email twice. SES replaces our Message-ID
header with its own; events are matched by the MessageId it returns and by the
``delivery_id`` email tag. Events are published only when
NEWSLETTER_SES_CONFIGURATION_SET names a configuration set.

No default rate: SES quotas (per second and per 24 hours) are set per account
and region. Set NEWSLETTER_SES_REQUESTS_PER_SECOND to the account's maximum
send rate: the delivery engine books one request per email in the shared
rate limit, and the calls inside a batch are spaced within that booking.
"""

from __future__ import annotations

import time
from email.header import Header
from typing import Any, ClassVar

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from publisher.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import Outcome, SendResult, trim
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from workers.providers import http
from workers.providers.base import Provider

#: A batch starts no new call after this many HTTP timeouts have passed.
BUDGET_TIMEOUTS = 4
CHARSET = "UTF-8"
#: Error types that mean the account may not send now: pause the provider.
PAUSE_ERRORS = {"LimitExceededException", "SendingPausedException", "AccountSuspendedException"}
#: Error types that mean our configuration is wrong for every message: stop for an operator.
CONFIGURATION_ERRORS = {"MailFromDomainNotVerifiedException", "NotFoundException"}

#: What one call of a batch came to: SES's 200 answer, or why there is none.
Attempt = requests.Response | DeliveryError


class SesProvider(Provider):
    name: ClassVar[str] = "ses"
    max_batch_size: ClassVar[int] = 50
    one_request_per_message: ClassVar[bool] = True
    #: SES v2 takes 40 MB after MIME encoding, which grows content by up to a third.
    max_message_bytes: ClassVar[int | None] = 28 * 1024 * 1024
    required_settings: ClassVar[tuple[str, ...]] = ("ses_access_key_id", "ses_secret_access_key")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # Temporary credentials (an assumed role, instance or task credentials) carry a session token.
        token = settings.ses_session_token.get_secret_value() if settings.ses_session_token else ""
        key_id, secret = settings.credential("ses_access_key_id"), settings.credential("ses_secret_access_key")
        self.credentials = Credentials(key_id, secret, token or None)
        self.region = settings.ses_region
        self.endpoint = (settings.ses_base_url or f"https://email.{self.region}.amazonaws.com").rstrip("/")

    def prepare(self, emails: list[OutgoingEmail]) -> list[dict[str, Any]]:
        return [self._message(email) for email in emails]

    def _message(self, email: OutgoingEmail) -> dict[str, Any]:
        message: dict[str, Any] = {
            "FromEmailAddress": email.from_header,
            "Destination": {"ToAddresses": [email.recipient]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": CHARSET},
                    "Body": {"Text": {"Data": email.text, "Charset": CHARSET}, "Html": {"Data": email.html, "Charset": CHARSET}},
                    "Headers": [{"Name": name, "Value": _ascii(value)} for name, value in email.headers().items()],
                }
            },
            # Tag names and values allow only [A-Za-z0-9_-]: ids are digits.
            "EmailTags": [
                {"Name": "delivery_id", "Value": str(email.delivery_id)},
                {"Name": "campaign_id", "Value": str(email.campaign_id)},
            ],
        }
        if email.reply_to_header:
            message["ReplyToAddresses"] = [email.reply_to_header]
        if self.settings.ses_configuration_set:
            message["ConfigurationSetName"] = self.settings.ses_configuration_set
        return message

    def transmit(self, payload: list[dict[str, Any]], *, idempotency_key: str) -> list[Attempt]:
        """Send each message in turn; SES has no idempotency key, so ``idempotency_key`` goes unused."""
        rate = self.requests_per_second
        interval = 1.0 / rate if rate else 0.0
        budget = BUDGET_TIMEOUTS * self.settings.http_timeout
        started = last = time.monotonic()
        attempts: list[Attempt] = []
        for index, message in enumerate(payload):
            if index:
                time.sleep(max(0.0, last + interval - time.monotonic()))
                if time.monotonic() - started > budget:
                    late = TransientDeliveryError(f"not sent: the batch used its {budget:g}s time budget; retried later")
                    return attempts + [late] * (len(payload) - index)
            last = time.monotonic()
            attempt = self._send_one(message)
            attempts.append(attempt)
            if isinstance(attempt, DeliveryError) and (isinstance(attempt, TransientDeliveryError) or attempt.halt):
                return attempts + [_not_sent(attempt)] * (len(payload) - index - 1)
        return attempts

    def _send_one(self, message: dict[str, Any]) -> Attempt:
        body = http.json_body(message)
        url, headers = self._signed("POST", "/v2/email/outbound-emails", body)
        try:
            # The signature covers these exact bytes: send them, never re-serialise.
            response = http.post(url, data=body, headers=headers, timeout=self.settings.http_timeout)
        except TransientDeliveryError as exc:
            return exc
        return response if response.status_code == 200 else failure(response)

    def _signed(self, method: str, path: str, body: bytes = b"") -> tuple[str, dict[str, str]]:
        """The URL and the headers (Authorization, X-Amz-Date…) of a SigV4-signed request."""
        url = self.endpoint + path
        headers = {"Content-Type": "application/json"} if body else {}
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self.credentials, "ses", self.region).add_auth(request)
        return url, {str(name): str(value) for name, value in request.headers.items()}

    def interpret(self, emails: list[OutgoingEmail], response: list[Attempt]) -> list[SendResult]:
        return [_result(email, attempt) for email, attempt in zip(emails, response, strict=True)]

    def check(self) -> str:
        url, headers = self._signed("GET", "/v2/email/account")
        response = http.get(url, headers=headers, timeout=self.settings.http_timeout)
        if response.status_code != 200:
            raise failure(response)
        account = _json(response)
        if not isinstance(account, dict):
            raise TransientDeliveryError(f"unreadable GetAccount answer: {http.describe(response)}")
        if account.get("SendingEnabled") is False:
            raise PermanentDeliveryError(f"sending is paused for this SES account in {self.region} ({account.get('EnforcementStatus')})")
        quota = account.get("SendQuota") or {}
        summary = (
            f"SES account in {self.region} accepted the credentials: up to {quota.get('MaxSendRate')}/s, "
            f"{quota.get('SentLast24Hours')} of {quota.get('Max24HourSend')} sent in the last 24 h"
        )
        return summary + ("" if account.get("ProductionAccessEnabled", True) else " (sandbox: verified recipients only)")


def failure(response: requests.Response) -> TransientDeliveryError | PermanentDeliveryError:
    """The error for a non-200 answer: the type is in ``x-amzn-ErrorType``, the text in ``message``."""
    kind, message = _error_type(response), _message(response)
    text = f"HTTP {response.status_code} {kind}: {message}" if kind else http.describe(response)
    status = response.status_code
    if kind in PAUSE_ERRORS or "daily message quota exceeded" in message.lower():
        return TransientDeliveryError(f"sending paused: {text}", retry_after=http.retry_after(response), halt=Halt.QUOTA)
    if status == 429 or "throttl" in kind.lower() or "maximum sending rate exceeded" in message.lower():
        return TransientDeliveryError(text, retry_after=http.retry_after(response))
    if status in (401, 403):
        return PermanentDeliveryError(f"credentials rejected: {text}", halt=Halt.CREDENTIALS)
    if kind in CONFIGURATION_ERRORS:
        return PermanentDeliveryError(f"configuration rejected: {text}", halt=Halt.CREDENTIALS)
    if status >= 500:
        return TransientDeliveryError(text, retry_after=http.retry_after(response))
    return PermanentDeliveryError(text)


def _result(email: OutgoingEmail, attempt: Attempt) -> SendResult:
    if isinstance(attempt, DeliveryError):
        # Rejected credentials or configuration stop the campaign; the records stay open.
        permanent = isinstance(attempt, PermanentDeliveryError) and attempt.halt != Halt.CREDENTIALS
        outcome = Outcome.PERMANENT if permanent else Outcome.TRANSIENT
        return SendResult(email.delivery_id, outcome, error=trim(str(attempt)), retry_after=attempt.retry_after, halt=attempt.halt)
    answer = _json(attempt)
    message_id = answer.get("MessageId") if isinstance(answer, dict) else None
    if not message_id:
        return SendResult.transient(email, f"unreadable SendEmail answer: {http.describe(attempt)}")
    return SendResult.accepted(email, str(message_id))


def _not_sent(cause: DeliveryError) -> TransientDeliveryError:
    return TransientDeliveryError(f"not sent: an earlier call of the batch failed: {cause}", retry_after=cause.retry_after, halt=cause.halt)


def _error_type(response: requests.Response) -> str:
    # "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"; some answers only have "__type".
    header = response.headers.get("x-amzn-ErrorType", "")
    body = _json(response)
    kind = header or (str(body.get("__type", "")) if isinstance(body, dict) else "")
    return kind.split(":")[0].split("#")[-1]


def _message(response: requests.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("Message") or "")
    return response.text[:200]


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _ascii(value: str) -> str:
    """SES takes printable ASCII header values only: encode anything else as an RFC 2047 word."""
    return value if value.isascii() else Header(value, "utf-8").encode()
