"""The project's exception tree.

Callers branch on what they do next: content and CSV problems are shown to the
user (exit code 2), delivery errors are retried or recorded. Configuration
errors deliberately sit outside ``NewsletterError`` so that retry code that
catches delivery failures can never swallow a missing credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.core.signals import Halt, RateLimit


class NewsletterError(Exception):
    """Root of every error the service raises on purpose."""


class ContentError(NewsletterError):
    """A recap file cannot be turned into an issue."""

    def __init__(self, source: str, problem: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
        #: Each problem as (where, reason), for answers that list them one by one (the HTTP API's 422).
        self.problems = problems or [("recap", problem)]


class RenderError(NewsletterError):
    """An issue could not be rendered into an email."""


class ImportFileError(NewsletterError):
    """A subscriber file cannot be read at all (missing column, not UTF-8)."""


class NotFoundError(NewsletterError):
    """A campaign, list or subscriber named by the user does not exist."""


class BrokerUnavailableError(NewsletterError):
    """Redis cannot be reached, so nothing may be written or enqueued."""


class DatabaseUnavailableError(NewsletterError):
    """The database cannot be reached (or, for SQLite, its file cannot be opened); nothing was written."""


class DeliveryError(NewsletterError):
    """A provider call failed as a whole.

    ``retry_after`` (seconds), ``halt`` and ``rate_limit`` carry what the
    provider said about when and whether to call it again.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        halt: Halt | None = None,
        rate_limit: RateLimit | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.halt = halt
        self.rate_limit = rate_limit
        #: The request went out and no answer came back: the provider may have accepted it.
        self.maybe_sent = maybe_sent


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (timeouts, 429, 5xx)."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (rejected payload, bad address)."""


class ConfigurationError(Exception):
    """A setting is missing or wrong; the message names the variable to set."""
