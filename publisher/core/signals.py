"""What a provider's answer tells the delivery engine besides per-recipient outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Halt(enum.StrEnum):
    """A reason to stop calling a provider, not just to retry later."""

    #: The provider's quota is used up (e.g. Resend's daily_quota_exceeded): pause, do not retry.
    QUOTA = "quota"
    #: The provider rejected our credentials (401/403): stop the campaign for an operator.
    CREDENTIALS = "credentials"
    #: The configured sender (From, Reply-To) cannot be written; no call was made: stop the campaign for an operator.
    SENDER = "sender"


@dataclass(frozen=True)
class RateLimit:
    """The provider's rate-limit headers (X-RateLimit-* or ratelimit-*), parsed."""

    limit: int | None = None
    remaining: int | None = None
    #: Seconds until the window resets.
    reset_after: float | None = None
