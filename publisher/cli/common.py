"""What every command module shares: exit codes, the two consoles, settings, error reporting.

Exit codes: 0 success; 1 an operation did not finish (``status --wait`` timed
out); 2 bad input (recap, CSV file, unknown list or campaign, bad option);
3 a service or setting is missing (Redis or the database unreachable, provider
credentials).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from publisher.cli.terminal import safe
from publisher.core.clock import FIRST_YEAR, LAST_YEAR, OUT_OF_RANGE, within_range
from publisher.core.errors import BrokerUnavailableError, ConfigurationError, DatabaseUnavailableError, NewsletterError
from publisher.core.settings import Settings

if TYPE_CHECKING:
    from publisher.db.engine import Database

#: The largest id a campaign can have (publisher.db.models.MAX_ID, not imported: it would load SQLAlchemy for --help).
MAX_CAMPAIGN_ID = 2**31 - 1
CampaignId = Annotated[int, typer.Argument(min=1, max=MAX_CAMPAIGN_ID, help="Campaign id (see `newsletter status`).")]
DraftId = Annotated[int, typer.Argument(min=1, max=MAX_CAMPAIGN_ID, help="The draft's campaign id (see `newsletter status`).")]

EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_UNAVAILABLE = 3

# Markup and emoji codes off: printed text often holds stored data (a title,
# a bounce text), and "[bold]" or ":warning:" in it must print as typed.
# Stored text goes through publisher.cli.terminal.safe first.
err = Console(stderr=True, highlight=False, markup=False, emoji=False)
out = Console(highlight=False, markup=False, emoji=False)


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(safe(message))}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the project's errors into a message and the documented exit code."""
    try:
        yield
    except (BrokerUnavailableError, DatabaseUnavailableError, ConfigurationError) as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except NewsletterError as exc:
        fail(str(exc), EXIT_INPUT)


@contextmanager
def command_database(settings: Settings, *, webhooks: bool = False) -> Iterator[Database]:
    """The database for one command, migrated on open; its connections are closed when the command is done with it.

    ``webhooks``: the command may change what outgoing webhooks announce (a
    campaign completing), so their delivery task is queued after each commit.
    """
    from publisher.db.engine import open_database

    db = open_database(settings.resolved_database_url, settings.secret_keys)
    if webhooks:
        from publisher.queue import deliver_webhooks_after_commit

        deliver_webhooks_after_commit(settings, db)
    try:
        yield db
    finally:
        db.dispose()


def cli_settings() -> Settings:
    """The settings from the environment, or exit 3 naming each variable that is wrong."""
    from pydantic import ValidationError

    from publisher.core.settings import load_settings

    try:
        settings = load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(f"invalid configuration: {problems}", EXIT_UNAVAILABLE)
    if settings.log_format == "json":
        # Warnings and errors logged by a command come out as JSON lines; text keeps Python's plain ones.
        from publisher.core.logs import configure_logging

        configure_logging("json", logging.WARNING)
    return settings


def _variable(loc: tuple[int | str, ...]) -> str:
    # A field with an alias (from_address is NEWSLETTER_FROM) is reported under the alias, already the variable.
    name = "_".join(map(str, loc)).upper()
    return name if name.startswith("NEWSLETTER_") else f"NEWSLETTER_{name}"


def sendable_address(value: str) -> str:
    """``value`` as an address we can send to, or exit 2 saying why not."""
    from publisher.audience.subscriber_rows import UnsendableAddressError, sendable_email

    try:
        return sendable_email(value)
    except UnsendableAddressError as exc:
        fail(f"{value!r}: {exc}", EXIT_INPUT)
    except ValueError as exc:
        fail(f"{value!r} is not a valid email address: {exc}", EXIT_INPUT)


def parse_time(value: str) -> dt.datetime:
    """An ISO 8601 time for ``--send-at`` (no offset means UTC) in the years FIRST_YEAR to LAST_YEAR, or exit 2.

    An empty value (a script's unset variable) is refused, never read as now:
    leaving ``--send-at`` out is how to send now.
    """
    if not value.strip():
        fail("--send-at is empty: give an ISO 8601 time (e.g. 2026-12-01T09:00:00+00:00), or leave --send-at out to send now", EXIT_INPUT)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--send-at {value[:60]!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00+00:00)", EXIT_INPUT)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        # Checked in UTC, as it is stored: 0001-01-01T00:00+14:00 has no UTC time at all.
        within_range(moment)
    except ValueError:
        fail(f"--send-at {value[:60]!r} {OUT_OF_RANGE}", EXIT_INPUT)
    return moment


def parse_local_time(send_at: str | None) -> dt.datetime:
    """``--send-at`` given with ``--local-time``: a date and time with no offset, or exit 2."""
    if send_at is None:
        fail("--local-time needs --send-at, the local time to send at (e.g. --send-at 2026-12-01T09:00 --local-time)", EXIT_INPUT)
    try:
        moment = dt.datetime.fromisoformat(send_at)
    except ValueError:
        fail(f"--send-at {send_at[:60]!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00)", EXIT_INPUT)
    if moment.tzinfo is not None:
        fail(
            f"--send-at {send_at[:60]!r} has an offset, but --local-time sends at that time in each recipient's zone: "
            "give it without one (e.g. 2026-12-01T09:00)",
            EXIT_INPUT,
        )
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        fail(f"--send-at {send_at[:60]!r} {OUT_OF_RANGE}", EXIT_INPUT)
    return moment
