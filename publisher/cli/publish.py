"""``newsletter publish RECAP``: store a campaign and enqueue its delivery."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from publisher.cli.common import EXIT_INPUT, cli_settings, err, fail, reported_errors, sendable_address
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def publish(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file with YAML front matter.")],
    list_name: Annotated[str | None, typer.Option("--list", help="List to send to.")] = None,
    send_at: Annotated[str | None, typer.Option(help="ISO 8601 time to send at (no offset means UTC).")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider for this campaign (default: NEWSLETTER_PROVIDER).")] = None,
    test_to: Annotated[str | None, typer.Option(help="Send one copy, marked as a test, to this address only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Publish even when lint finds errors.")] = False,
) -> None:
    """Create a campaign from RECAP, freeze its audience and enqueue its delivery."""
    from publisher.cli.publishing import PublishOptions, run_publish

    settings = cli_settings()
    if list_name is None and test_to is None:
        fail("--list NAME is required (or --test-to EMAIL for a test send)", EXIT_INPUT)
    with reported_errors():
        options = PublishOptions(
            recap=recap,
            list_name=list_name,
            send_at=_parse_time(send_at) if send_at else None,
            provider=provider or settings.provider,
            test_to=sendable_address(test_to) if test_to else None,
            force=force,
        )
        result = run_publish(settings, options, report=lambda line: err.print(safe(line), soft_wrap=True))
    sys.stderr.flush()
    print(f"campaign {result.id}", flush=True)


def _parse_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--send-at {value!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00+00:00)", EXIT_INPUT)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
