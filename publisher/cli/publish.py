"""``newsletter publish RECAP``: store a campaign and enqueue its delivery, or save it as a draft (``--draft``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from publisher.cli.common import (
    EXIT_INPUT,
    cli_settings,
    err,
    fail,
    parse_local_time,
    parse_time,
    reported_errors,
    sendable_address,
)
from publisher.cli.startup import loading
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def publish(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file with YAML front matter.")],
    list_name: Annotated[str | None, typer.Option("--list", help="List to send to.")] = None,
    send_at: Annotated[str | None, typer.Option(help="ISO 8601 time to send at (no offset means UTC).")] = None,
    local_time: Annotated[
        bool,
        typer.Option(
            "--local-time", help="Send at --send-at (no offset) in each subscriber's time zone, else the list's (`lists set --timezone`)."
        ),
    ] = False,
    provider: Annotated[str | None, typer.Option(help="Provider for this campaign (default: NEWSLETTER_PROVIDER).")] = None,
    test_to: Annotated[str | None, typer.Option(help="Send one copy, marked as a test, to this address only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Publish even when lint finds errors.")] = False,
    draft: Annotated[bool, typer.Option("--draft", help="Save as a draft to send later with `newsletter send`; nothing is sent.")] = False,
) -> None:
    """Create a campaign from RECAP, freeze its audience and enqueue its delivery (or save it as a draft)."""
    with loading():
        from publisher.cli.publishing import PublishOptions, run_draft, run_publish

    settings = cli_settings()
    if draft:
        _check_draft_options(list_name, send_at=send_at, test_to=test_to, force=force, local_time=local_time)
        assert list_name is not None
        with reported_errors():
            campaign_id = run_draft(settings, recap, list_name, provider or settings.provider, report=_report)
        sys.stderr.flush()
        print(f"campaign {campaign_id}", flush=True)
        return
    if list_name is None and test_to is None:
        fail("--list NAME is required (or --test-to EMAIL for a test send)", EXIT_INPUT)
    local = parse_local_time(send_at) if local_time else None
    if local is not None and test_to is not None:
        fail("--local-time cannot be given with --test-to: a test send goes at once", EXIT_INPUT)
    with reported_errors():
        options = PublishOptions(
            recap=recap,
            list_name=list_name,
            send_at=parse_time(send_at) if send_at and local is None else None,
            local_time=local,
            provider=provider or settings.provider,
            test_to=sendable_address(test_to) if test_to else None,
            force=force,
        )
        result = run_publish(settings, options, report=_report)
    sys.stderr.flush()
    print(f"campaign {result.id}", flush=True)


def _report(line: str) -> None:
    err.print(safe(line), soft_wrap=True)


def _check_draft_options(list_name: str | None, *, send_at: str | None, test_to: str | None, force: bool, local_time: bool) -> None:
    if list_name is None:
        fail("--draft needs --list NAME: the list the draft will be sent to", EXIT_INPUT)
    options = (("--send-at", send_at), ("--local-time", local_time), ("--test-to", test_to), ("--force", force))
    given = [name for name, value in options if value]
    if given:
        fail(f"{', '.join(given)} cannot be given with --draft: they belong to `newsletter send`", EXIT_INPUT)
