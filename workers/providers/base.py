"""The provider base class: it owns the send sequence, subclasses fill in hooks.

``send`` refuses oversized messages, then runs prepare → transmit → interpret
for the rest of the batch and always returns one ``SendResult`` per email, in
order. An email whose payload cannot be built fails alone, before any call;
a sender (From, Reply-To) that cannot be written is no email's fault, so it
fails none: the call is not made and the results halt the campaign.
A failure of the call as a whole (timeout, refused connection, 5xx, 401)
becomes a result for every email of the batch, so the delivery engine deals
only with per-recipient outcomes (plus the halt and rate-limit signals).
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
from typing import Any, ClassVar

from publisher.core.addresses import SenderError
from publisher.core.errors import PermanentDeliveryError, RenderError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import Outcome, SendResult, trim
from publisher.core.settings import Settings
from publisher.core.signals import Halt, RateLimit

#: What building a payload raises for content no message can carry (an address, a header value).
#: Raised before the call, so the records fail with the reason instead of waiting in doubt.
BUILD_ERRORS = (ValueError, RenderError)


def idempotency_key(batch_key: str, emails: list[OutgoingEmail]) -> str:
    """A key that is the same for every retry of the same recipients of a batch.

    The recipient ids are part of it: should the open part of a batch ever
    shrink (someone unsubscribed between two attempts), the smaller call gets
    a new key instead of being refused as a different request under an old one.
    """
    members = ",".join(str(email.delivery_id) for email in emails)
    return f"{batch_key}-{hashlib.sha256(members.encode()).hexdigest()[:16]}"


class Provider(abc.ABC):
    """One email provider. Subclasses live in ``workers/providers/<name>.py``."""

    #: Name used in settings, on the command line and in the ledger.
    name: ClassVar[str]
    #: Most emails one call may carry.
    max_batch_size: ClassVar[int]
    #: Largest message (HTML + text + headers, in bytes) the provider accepts; None: no documented limit.
    max_message_bytes: ClassVar[int | None] = None
    #: Documented default call rate (requests per second); None: none documented, unlimited until configured.
    default_requests_per_second: ClassVar[float | None] = None
    #: Settings fields that must be set before a worker may use this provider.
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: Whether a retried call with the same idempotency key is never delivered twice.
    idempotent: ClassVar[bool] = False
    #: Whether the API takes one request per message (SES, SMTP) rather than one per batch.
    one_request_per_message: ClassVar[bool] = False
    #: Whether this provider takes the bodies as JSON strings (``OutgoingEmail.json_bodies``): its
    #: request is JSON, and each body is then written from pieces escaped once per batch.
    json_bodies: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def check_configuration(cls, settings: Settings) -> None:
        """Raise ConfigurationError naming the first missing variable."""
        for field in cls.required_settings:
            settings.credential(field)

    @property
    def requests_per_second(self) -> float | None:
        return self.settings.requests_per_second(self.name, self.default_requests_per_second)

    def send(self, emails: list[OutgoingEmail], batch_key: str = "adhoc") -> list[SendResult]:
        """Send one batch and return one result per email, in order."""
        if len(emails) > self.max_batch_size:
            raise ValueError(f"{self.name} takes at most {self.max_batch_size} emails per call, got {len(emails)}")
        try:
            _check_senders(emails)
        except SenderError as exc:
            return _sender_halt(emails, exc)
        results: dict[int, SendResult] = {}
        sendable = []
        for email in emails:
            # A kept email (``keep``) was measured before its bodies were dropped.
            too_big = self._oversized(email) if email.encoded is None else None
            if too_big:
                results[email.delivery_id] = SendResult.permanent(email, too_big)
            else:
                sendable.append(email)
        for result in self._call(sendable, batch_key):
            results[result.delivery_id] = result
        return [results[email.delivery_id] for email in emails]

    def keep(self, email: OutgoingEmail) -> OutgoingEmail:
        """The email as a batch holds it until its call.

        A provider whose request carries one JSON object per message writes
        that object here, as soon as the email is built, and keeps it instead
        of the personalised bodies: a batch then never holds every body at
        once. What goes on the wire is the same. The default keeps the email
        as it is.
        """
        return email

    def _call(self, emails: list[OutgoingEmail], batch_key: str) -> list[SendResult]:
        if not emails:
            return []
        try:
            payload = self.prepare(emails)
        except SenderError as exc:
            return _sender_halt(emails, exc)
        except BUILD_ERRORS as exc:
            return self._isolate_unbuildable(emails, batch_key, exc)
        try:
            response = self.transmit(payload, idempotency_key=idempotency_key(batch_key, emails))
        except TransientDeliveryError as exc:
            return [_from_error(email, Outcome.TRANSIENT, exc) for email in emails]
        except PermanentDeliveryError as exc:
            # Rejected credentials are nobody's fault but ours: the records
            # stay open (transient) while the halt stops the campaign.
            outcome = Outcome.TRANSIENT if exc.halt == Halt.CREDENTIALS else Outcome.PERMANENT
            return [_from_error(email, outcome, exc) for email in emails]
        results = self.interpret(emails, response)
        if [result.delivery_id for result in results] != [email.delivery_id for email in emails]:
            raise RuntimeError(f"{self.name} returned results that do not match the batch")
        limit = self.rate_limit(response)
        return [dataclasses.replace(result, rate_limit=limit) for result in results] if limit else results

    def _isolate_unbuildable(self, emails: list[OutgoingEmail], batch_key: str, cause: Exception) -> list[SendResult]:
        """Fail the emails whose payload cannot be built, each with its reason, and send the others.

        Nothing has reached the provider yet, so none of them is in doubt: a
        message that cannot be built fails for good, the rest of the call goes on.
        """
        results: dict[int, SendResult] = {}
        buildable = []
        for email in emails:
            try:
                self.prepare([email])
            except SenderError as exc:
                return _sender_halt(emails, exc)  # before any call of this step: none of them went out
            except BUILD_ERRORS as exc:
                results[email.delivery_id] = SendResult.permanent(email, f"cannot build the message: {exc}")
            else:
                buildable.append(email)
        if len(buildable) == len(emails):
            # Each builds alone but not together: a fault of the batch as a whole, so none can be sent.
            return [SendResult.permanent(email, f"cannot build the message: {cause}") for email in emails]
        for result in self._call(buildable, batch_key):
            results[result.delivery_id] = result
        return [results[email.delivery_id] for email in emails]

    def _oversized(self, email: OutgoingEmail) -> str | None:
        if self.max_message_bytes is None:
            return None
        headers = sum(len(k) + len(v) + 4 for k, v in email.headers().items())
        # UTF-8 takes at most four bytes a character, and a body's JSON is its
        # UTF-8 with some characters escaped, never shorter: nearly every message
        # is within the limit by one of these bounds, and is never encoded just to be measured.
        json_bodies = email.json_bodies
        bound = sum(body.length for body in json_bodies) if json_bodies is not None else 4 * (len(email.html) + len(email.text))
        if bound + headers <= self.max_message_bytes:
            return None
        html, text = email.bodies()
        size = len(html.encode()) + len(text.encode()) + headers
        if size <= self.max_message_bytes:
            return None
        return f"message is {size / 1024:.0f} KB; {self.name} accepts at most {self.max_message_bytes / 1024:.0f} KB"

    @abc.abstractmethod
    def prepare(self, emails: list[OutgoingEmail]) -> Any:
        """Build the provider's request payload for a batch."""

    @abc.abstractmethod
    def transmit(self, payload: Any, *, idempotency_key: str) -> Any:
        """Make the call; raise Transient/PermanentDeliveryError when it fails as a whole.

        ``idempotency_key`` is stable across retries of the same batch; send it
        where the provider supports one.
        """

    @abc.abstractmethod
    def interpret(self, emails: list[OutgoingEmail], response: Any) -> list[SendResult]:
        """Turn the provider's answer into one result per email."""

    def rate_limit(self, response: Any) -> RateLimit | None:
        """The rate-limit signal in a successful answer, if the provider sends one."""
        return None

    def check(self) -> str:
        """Verify credentials and reachability without sending; return what was checked.

        Raise a DeliveryError (or ConfigurationError) saying what is wrong.
        """
        return "nothing to check"

    def close(self) -> None:  # noqa: B027 (optional hook: most providers hold nothing)
        """Release connections; called when the worker process stops."""


def _from_error(email: OutgoingEmail, outcome: Outcome, exc: TransientDeliveryError | PermanentDeliveryError) -> SendResult:
    return SendResult(
        email.delivery_id,
        outcome,
        error=trim(str(exc)),
        retry_after=exc.retry_after,
        halt=exc.halt,
        rate_limit=exc.rate_limit,
        maybe_sent=exc.maybe_sent,
    )


def _check_senders(emails: list[OutgoingEmail]) -> None:
    """Raise SenderError before anything else when a sender cannot be written (checked once per distinct one).

    First, so that no provider's order of building decides whether a record
    with a fault of its own fails before the sender halts the call.
    """
    for email in {(email.sender, email.reply_to): email for email in emails}.values():
        _ = email.from_mailbox, email.reply_to_mailbox


def _sender_halt(emails: list[OutgoingEmail], exc: SenderError) -> list[SendResult]:
    # The sender is the same for every email and no record's fault: the
    # records stay open (transient) while the halt pauses the campaign.
    return [SendResult.transient(email, str(exc), halt=Halt.SENDER) for email in emails]
