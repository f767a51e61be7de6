"""What a provider's answer tells the delivery engine: one outcome per email.

These are the words the providers (``workers/providers/``) and the ledger
(``publisher/ledger/claims.py``) share, so neither has to import the other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publisher.core.signals import Halt, RateLimit

if TYPE_CHECKING:
    from publisher.core.message import OutgoingEmail


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
    halt: Halt | None = None
    rate_limit: RateLimit | None = None
    #: The provider says the address is dead (hard bounce, inactive recipient): suppress it everywhere.
    suppress: bool = False
    #: The call went out but its answer was lost (read timeout): it may have been sent.
    maybe_sent: bool = False

    @classmethod
    def accepted(cls, email: OutgoingEmail, provider_message_id: str) -> SendResult:
        return cls(email.delivery_id, Outcome.ACCEPTED, provider_message_id=provider_message_id)

    @classmethod
    def transient(cls, email: OutgoingEmail, error: str, retry_after: float | None = None, halt: Halt | None = None) -> SendResult:
        return cls(email.delivery_id, Outcome.TRANSIENT, error=trim(error), retry_after=retry_after, halt=halt)

    @classmethod
    def permanent(cls, email: OutgoingEmail, error: str, *, suppress: bool = False) -> SendResult:
        return cls(email.delivery_id, Outcome.PERMANENT, error=trim(error), suppress=suppress)


def trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"
