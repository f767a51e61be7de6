"""``newsletter status``: delivery counts, progress, queue depth and provider health."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import EXIT_FAILED, EXIT_INPUT, MAX_CAMPAIGN_ID, cli_settings, fail, out, reported_errors
from publisher.core.settings import Settings

if TYPE_CHECKING:
    from publisher.cli.status_report import StatusReport
    from publisher.db.engine import Database
    from publisher.ledger.status import CampaignProgress

WAIT_POLL = 0.5

app = typer.Typer()


@app.command()
def status(
    campaign_id: Annotated[
        int | None, typer.Argument(min=1, max=MAX_CAMPAIGN_ID, help="One campaign; all recent ones when omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wait: Annotated[bool, typer.Option(help="Block until no delivery is pending or sending.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait may block before exiting 1.")] = 300.0,
    watch: Annotated[
        bool, typer.Option(help="Redraw in place with rate, ETA and provider health until Ctrl-C (exit 130) or the campaign is done (0).")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, max=3600, help="Seconds between --watch redraws.")] = 2.0,
) -> None:
    """Show delivery counts by state for campaigns, and the Redis queue depth."""
    from publisher.cli.status_report import StatusReport, show
    from publisher.db.engine import open_database
    from publisher.ledger.status import campaign_progress

    if watch and as_json:
        fail("--watch redraws a view for people and --json prints once for programs: use one of them", EXIT_INPUT)
    if watch and wait:
        fail("--watch already returns when the campaign is done: drop --wait", EXIT_INPUT)
    settings = cli_settings()
    if wait and campaign_id is None:
        fail("--wait needs a CAMPAIGN_ID", EXIT_INPUT)
    if watch:
        _watch(settings, campaign_id, interval)
        return
    with reported_errors():
        db = open_database(settings.resolved_database_url)
        progress = campaign_progress(db, campaign_id, kept=settings.tracking_kept)
        deadline = time.monotonic() + timeout
        while wait and not progress[0].finished:
            if time.monotonic() >= deadline:
                show(out, StatusReport(campaigns=progress), as_json=as_json)
                fail(f"campaign {campaign_id} still has {progress[0].open} deliveries open after {timeout:g}s", EXIT_FAILED)
            time.sleep(WAIT_POLL)
            progress = campaign_progress(db, campaign_id, kept=settings.tracking_kept)
        show(out, _status_report(settings, db, progress, campaign_id), as_json=as_json)


def _watch(settings: Settings, campaign_id: int | None, interval: float) -> None:
    from publisher.cli.status_watch import EXIT_INTERRUPTED, watch
    from publisher.db.engine import open_database
    from publisher.ledger.status import campaign_progress

    try:
        with reported_errors():
            db = open_database(settings.resolved_database_url)
            campaign_progress(db, campaign_id)  # an unknown campaign is refused before anything is drawn
            watch(
                out,
                lambda: _status_report(settings, db, campaign_progress(db, campaign_id, kept=settings.tracking_kept), campaign_id),
                campaign_id=campaign_id,
                interval=interval,
            )
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _status_report(settings: Settings, db: Database, progress: list[CampaignProgress], campaign_id: int | None) -> StatusReport:
    import redis

    from publisher.cli.status_report import StatusReport, provider_health
    from publisher.core.broker import EmbeddedRedis, connect
    from publisher.ledger.status import in_doubt
    from publisher.queue import queue_depth, unacked

    report = StatusReport(campaigns=progress)
    if campaign_id is not None:
        report.in_doubt = in_doubt(db, campaign_id)
    url = settings.redis_url or EmbeddedRedis(settings.data_dir).url
    try:
        client = connect(url, settings.redis_sentinel_master)
        report.queues = {**queue_depth(client), "unacked": unacked(client)}
        providers = {settings.provider, *(c.provider for c in progress if c.provider)}
        if settings.fallback_provider:
            providers.add(settings.fallback_provider)
        report.providers = provider_health(client, settings, providers)
    except (redis.RedisError, OSError):
        report.queues = None
    return report
