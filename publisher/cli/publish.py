"""``newsletter publish RECAP``: store a campaign and enqueue its delivery, or save it as a draft (``--draft``)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from publisher.cli.publishing import TestOptions

app = typer.Typer()


class TestMetric(enum.StrEnum):
    """What decides a subject test (``publisher.tracking.figures.METRICS``)."""

    OPENS = "opens"
    CLICKS = "clicks"


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
    subject_variant: Annotated[
        list[str] | None,
        typer.Option(
            "--subject-variant",
            help="Test this subject against the recap's own (variant 1) on a share of the list first; give it 1 to 3 times.",
        ),
    ] = None,
    test_share: Annotated[
        int | None, typer.Option("--test-share", min=1, max=50, help="Percent of the list in the subject test, split evenly (default 20).")
    ] = None,
    test_wait: Annotated[
        str | None, typer.Option("--test-wait", help="How long the test runs before the winner is decided: 90s, 30m, 2h (default 2h).")
    ] = None,
    test_metric: Annotated[
        TestMetric | None, typer.Option("--test-metric", help="What wins the subject test: unique human opens or clicks (default opens).")
    ] = None,
) -> None:
    """Create a campaign from RECAP, freeze its audience and enqueue its delivery (or save it as a draft)."""
    with loading():
        from publisher.cli.publishing import PublishOptions, run_draft, run_publish

    settings = cli_settings()
    test = _test_options(subject_variant or [], test_share, test_wait, test_metric, settings.tracking_days)
    if test is not None and (draft or test_to is not None or local_time):
        given = next(name for name, value in (("--draft", draft), ("--test-to", test_to), ("--local-time", local_time)) if value)
        fail(f"--subject-variant cannot be given with {given}: a subject test goes to a list's audience at one time", EXIT_INPUT)
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
            send_at=parse_time(send_at) if send_at is not None and local is None else None,
            local_time=local,
            provider=provider or settings.provider,
            test_to=sendable_address(test_to) if test_to else None,
            force=force,
            subject_test=test,
        )
        result = run_publish(settings, options, report=_report)
    sys.stderr.flush()
    print(f"campaign {result.id}", flush=True)


def _test_options(
    variants: list[str], share: int | None, wait: str | None, metric: TestMetric | None, tracking_days: int
) -> TestOptions | None:
    """The subject test asked for, each value checked where the recap is not needed; exit 2 naming the option."""
    if not variants:
        given = [name for name, value in (("--test-share", share), ("--test-wait", wait), ("--test-metric", metric)) if value is not None]
        if given:
            fail(f"{', '.join(given)} set up a subject test: give the subjects to test with --subject-variant", EXIT_INPUT)
        return None
    from publisher.cli.publishing import TestOptions
    from publisher.ledger.subject_tests import (
        DEFAULT_SHARE,
        DEFAULT_WAIT,
        MAX_VARIANTS,
        SubjectTestError,
        check_subject,
        parse_wait,
        require_kept,
    )

    if len(variants) > MAX_VARIANTS - 1:
        fail(f"--subject-variant is given at most {MAX_VARIANTS - 1} times (the recap's own subject is the first variant)", EXIT_INPUT)
    try:
        for number, subject in enumerate(variants, start=1):
            check_subject(subject, f"--subject-variant #{number}")
    except SubjectTestError as exc:
        fail(str(exc), EXIT_INPUT)
    try:
        parsed_wait = parse_wait(wait) if wait is not None else DEFAULT_WAIT
        require_kept(parsed_wait, tracking_days)
    except SubjectTestError as exc:
        fail(f"--test-wait: {exc}", EXIT_INPUT)
    return TestOptions(tuple(variants), share or DEFAULT_SHARE, parsed_wait, (metric or TestMetric.OPENS).value)


def _report(line: str) -> None:
    err.print(safe(line), soft_wrap=True)


def _check_draft_options(list_name: str | None, *, send_at: str | None, test_to: str | None, force: bool, local_time: bool) -> None:
    if list_name is None:
        fail("--draft needs --list NAME: the list the draft will be sent to", EXIT_INPUT)
    options = (("--send-at", send_at), ("--local-time", local_time), ("--test-to", test_to), ("--force", force))
    given = [name for name, value in options if value is not None and value is not False]
    if given:
        fail(f"{', '.join(given)} cannot be given with --draft: they belong to `newsletter send`", EXIT_INPUT)
