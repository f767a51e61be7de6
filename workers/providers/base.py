"""The provider base class: it owns the send sequence, subclasses fill in hooks.

``send`` runs prepare → transmit → interpret for one batch and always returns
one ``SendResult`` per email, in order. A failure of the call as a whole
(timeout, refused connection, 5xx) becomes a result for every email of the
batch, so the delivery engine deals only with per-recipient outcomes.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from publisher.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.settings import Settings
from workers.message import OutgoingEmail

#: Longest provider error text kept in the ledger, so an operator can read why.
ERROR_TEXT_LIMIT = 500


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    delivery_id: int
    outcome: Outcome
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @classmethod
    def accepted(cls, email: OutgoingEmail, provider_message_id: str) -> SendResult:
        return cls(email.delivery_id, Outcome.ACCEPTED, provider_message_id=provider_message_id)

    @classmethod
    def transient(cls, email: OutgoingEmail, error: str, retry_after: float | None = None) -> SendResult:
        return cls(email.delivery_id, Outcome.TRANSIENT, error=trim(error), retry_after=retry_after)

    @classmethod
    def permanent(cls, email: OutgoingEmail, error: str) -> SendResult:
        return cls(email.delivery_id, Outcome.PERMANENT, error=trim(error))


def trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


class Provider(abc.ABC):
    """One email provider. Subclasses live in ``workers/providers/<name>.py``."""

    #: Name used in settings, on the command line and in the ledger.
    name: ClassVar[str]
    #: Most emails one call may carry.
    max_batch_size: ClassVar[int]
    #: Settings fields that must be set before a worker may use this provider.
    required_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def check_configuration(cls, settings: Settings) -> None:
        """Raise ConfigurationError naming the first missing variable."""
        for field in cls.required_settings:
            settings.credential(field)

    def send(self, emails: list[OutgoingEmail]) -> list[SendResult]:
        """Send one batch and return one result per email, in order."""
        if not emails:
            return []
        if len(emails) > self.max_batch_size:
            raise ValueError(f"{self.name} takes at most {self.max_batch_size} emails per call, got {len(emails)}")
        payload = self.prepare(emails)
        try:
            response = self.transmit(payload)
        except TransientDeliveryError as exc:
            return [SendResult.transient(email, str(exc), getattr(exc, "retry_after", None)) for email in emails]
        except PermanentDeliveryError as exc:
            return [SendResult.permanent(email, str(exc)) for email in emails]
        results = self.interpret(emails, response)
        if [result.delivery_id for result in results] != [email.delivery_id for email in emails]:
            raise RuntimeError(f"{self.name} returned results that do not match the batch")
        return results

    @abc.abstractmethod
    def prepare(self, emails: list[OutgoingEmail]) -> Any:
        """Build the provider's request payload for a batch."""

    @abc.abstractmethod
    def transmit(self, payload: Any) -> Any:
        """Make the call; raise Transient/PermanentDeliveryError when it fails as a whole."""

    @abc.abstractmethod
    def interpret(self, emails: list[OutgoingEmail], response: Any) -> list[SendResult]:
        """Turn the provider's answer into one result per email."""

    def close(self) -> None:  # noqa: B027 (optional hook: most providers hold nothing)
        """Release connections; called when the worker process stops."""
