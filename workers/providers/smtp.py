"""Any SMTP relay (your own server, Mailpit, a provider's SMTP endpoint) over smtplib.

One connection per batch: connect, EHLO, STARTTLS (``NEWSLETTER_SMTP_SECURITY=
starttls``, the default) or implicit TLS (``ssl``) or neither (``none``, for a
local relay or Mailpit), AUTH when ``NEWSLETTER_SMTP_USERNAME`` is set, one
transaction per message, QUIT. When ``NEWSLETTER_SMTP_PORT`` is unset the port
follows the security mode: 587, 465 or 25. Certificates are verified against
the system's CA bundle (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` point elsewhere).

The server answers each recipient on its own: 5xx is permanent, 4xx transient.
A connection lost mid-batch leaves the messages already accepted accepted and
the rest transient. SMTP has no idempotency key: a batch retried after a lost
answer can be delivered twice; the delivery engine, not this adapter, guards
against that. The provider message id is our own Message-ID.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import ClassVar

from publisher.core.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from workers.providers.base import Provider

#: Port for each security mode when NEWSLETTER_SMTP_PORT is not set.
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class Envelope:
    """One SMTP transaction: MAIL FROM, RCPT TO and the message."""

    sender: str
    recipient: str
    message: EmailMessage


@dataclass(frozen=True)
class Answer:
    """What the server said about one message."""

    outcome: Outcome
    detail: str


#: Enhanced status 5.1.x: the destination mailbox does not exist (RFC 3463) — a hard bounce.
HARD_BOUNCE = re.compile(r"\b5\.1\.\d\b")


class SmtpProvider(Provider):
    name: ClassVar[str] = "smtp"
    max_batch_size: ClassVar[int] = 100
    one_request_per_message: ClassVar[bool] = True
    required_settings: ClassVar[tuple[str, ...]] = ("smtp_host",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.host = settings.credential("smtp_host")
        self.security = settings.smtp_security
        explicit = "smtp_port" in settings.model_fields_set
        self.port = settings.smtp_port if explicit else DEFAULT_PORTS[self.security]
        self.username = settings.smtp_username
        self.password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        self.address = f"{self.host}:{self.port}"

    @classmethod
    def check_configuration(cls, settings: Settings) -> None:
        super().check_configuration(settings)
        if settings.smtp_username and not (settings.smtp_password and settings.smtp_password.get_secret_value()):
            raise ConfigurationError("set NEWSLETTER_SMTP_PASSWORD: NEWSLETTER_SMTP_USERNAME is set, so the smtp provider logs in")

    def prepare(self, emails: list[OutgoingEmail]) -> list[Envelope]:
        return [Envelope(email.from_mailbox[1], email.to_address, email.to_mime()) for email in emails]

    def transmit(self, payload: list[Envelope], *, idempotency_key: str) -> list[Answer]:
        client = self._connect()
        answers: list[Answer] = []
        try:
            for envelope in payload:
                answer = self._send_one(client, envelope)
                answers.append(answer)
                if client.sock is None:  # the server hung up (421) or the connection broke
                    rest = Answer(Outcome.TRANSIENT, f"not sent: the connection to {self.address} closed ({answer.detail})")
                    answers.extend(rest for _ in payload[len(answers) :])
                    break
        finally:
            _quit(client)
        return answers

    def interpret(self, emails: list[OutgoingEmail], response: list[Answer]) -> list[SendResult]:
        results = []
        for email, answer in zip(emails, response, strict=True):
            if answer.outcome == Outcome.ACCEPTED:
                results.append(SendResult.accepted(email, email.message_id))
            elif answer.outcome == Outcome.PERMANENT:
                results.append(SendResult.permanent(email, answer.detail, suppress=bool(HARD_BOUNCE.search(answer.detail))))
            else:
                results.append(SendResult.transient(email, answer.detail))
        return results

    def check(self) -> str:
        client = self._connect()
        try:
            code, reply = client.noop()
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"{self.address} stopped answering: {_reason(exc)}") from exc
        finally:
            _quit(client)
        if code != 250:
            raise TransientDeliveryError(f"{self.address} answered NOOP with {_reply(code, reply)}")
        who = f"logged in as {self.username}" if self.username else "no login configured"
        return f"{self.address} answered ({self.security}, {who})"

    def _connect(self) -> smtplib.SMTP:
        """Open an authenticated session, translating every failure into a DeliveryError."""
        timeout = self.settings.http_timeout
        client: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=timeout)
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.username:
                client.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            _close(client)
            raise PermanentDeliveryError(
                f"{self.address} rejected the login of {self.username}: {_reason(exc)}", halt=Halt.CREDENTIALS
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _close(client)
            raise TransientDeliveryError(f"{self.address}: {exc} (see NEWSLETTER_SMTP_SECURITY and NEWSLETTER_SMTP_USERNAME)") from exc
        except smtplib.SMTPException as exc:
            _close(client)
            raise TransientDeliveryError(f"{self.address} refused the session: {_reason(exc)}") from exc
        except OSError as exc:
            # Refused connections, timeouts, DNS and TLS (certificate) failures.
            _close(client)
            raise TransientDeliveryError(f"cannot connect to {self.address}: {_reason(exc)}") from exc
        return client

    def _send_one(self, client: smtplib.SMTP, envelope: Envelope) -> Answer:
        recipient = envelope.recipient
        try:
            refused = client.send_message(envelope.message, from_addr=envelope.sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, next(iter(exc.recipients.values()), (-1, b"recipient refused")))
            return _by_code(code, reply)
        except smtplib.SMTPResponseException as exc:  # sender or DATA refused
            return _by_code(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:  # e.g. an international address without SMTPUTF8
            return Answer(Outcome.PERMANENT, f"{self.address} cannot take this message: {exc}")
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, timed out: the state of the session is unknown
            client.close()
            return Answer(Outcome.TRANSIENT, f"connection lost: {_reason(exc)}")
        if recipient in refused:
            return _by_code(*refused[recipient])
        return Answer(Outcome.ACCEPTED, "")


def _by_code(code: int, reply: bytes | str) -> Answer:
    # 5xx: the server will never take it; 4xx (and anything odd): try again later.
    return Answer(Outcome.PERMANENT if 500 <= code < 600 else Outcome.TRANSIENT, _reply(code, reply))


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"SMTP {code} {text}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return str(exc) or type(exc).__name__


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        client.close()
