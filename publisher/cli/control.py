"""Campaign control commands: pause, resume, cancel, reconcile, dlq."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import EXIT_INPUT, CampaignId, cli_settings, command_database, fail, out, reported_errors
from publisher.cli.terminal import safe
from publisher.core.settings import Settings

if TYPE_CHECKING:
    from publisher.db.engine import Database

app = typer.Typer()
dlq_app = typer.Typer(no_args_is_help=True, help="Records that failed after exhausting their retries.")


def _enqueue_due(settings: Settings, db: Database) -> int:
    """Enqueue what the change made due now, rather than waiting for the workers' sweep."""
    from publisher.core.broker import check_reachable, redis_url
    from publisher.queue import dispatch_due

    url = redis_url(settings)
    check_reachable(url, settings.redis_sentinel_master)
    return dispatch_due(settings, db, url)


@app.command()
def pause(campaign_id: CampaignId) -> None:
    """Stop new provider calls for a campaign within seconds; calls in flight finish."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger import control

    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        control.pause(db, campaign_id, actor=CLI_ACTOR)
    out.print(f"campaign {campaign_id} paused; `newsletter resume {campaign_id}` continues it")


@app.command()
def resume(campaign_id: CampaignId) -> None:
    """Continue a paused campaign without sending anything twice."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger import control

    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        control.resume(db, campaign_id, actor=CLI_ACTOR)
        batches = _enqueue_due(settings, db)
    out.print(f"campaign {campaign_id} resumed; {batches} batch(es) enqueued")


@app.command()
def cancel(campaign_id: CampaignId) -> None:
    """Cancel every record of a campaign that is not sent yet."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger import control

    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        cancelled = control.cancel(db, campaign_id, actor=CLI_ACTOR)
    out.print(f"campaign {campaign_id} cancelled; {cancelled} record(s) will not be sent")


@app.command()
def reconcile(
    campaign_id: CampaignId,
    resend_in_doubt: Annotated[bool, typer.Option("--resend-in-doubt", help="Send the in-doubt records again.")] = False,
    mark_sent: Annotated[bool, typer.Option("--mark-sent", help="Accept the in-doubt records as sent.")] = False,
) -> None:
    """Settle in-doubt records (a worker died between the provider's answer and the ledger write)."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger import control

    if resend_in_doubt == mark_sent:
        fail("choose exactly one of --resend-in-doubt and --mark-sent", EXIT_INPUT)
    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        count = control.reconcile(db, campaign_id, resend=resend_in_doubt, actor=CLI_ACTOR)
        if resend_in_doubt and count:
            _enqueue_due(settings, db)
    action = "will be sent again" if resend_in_doubt else "marked sent"
    out.print(f"campaign {campaign_id}: {count} in-doubt record(s) {action}")


@dlq_app.command("list")
def dlq_list(campaign: Annotated[int | None, typer.Option(help="Only this campaign.")] = None) -> None:
    """Show dead-lettered records with their last error."""
    from publisher.ledger import control

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        letters, total = control.dead_letters(db, campaign)
    for letter in letters:
        out.print(safe(f"campaign {letter.campaign_id}  {letter.email}  attempts {letter.attempts}  {letter.last_error or ''}"))
    out.print(f"{total} dead-lettered record(s)" + (f" (first {len(letters)} shown)" if total > len(letters) else ""))


@dlq_app.command("replay")
def dlq_replay(campaign: Annotated[int | None, typer.Option(help="Only this campaign.")] = None) -> None:
    """Put dead-lettered records back to pending with fresh attempts, and enqueue them."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger import control

    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        count = control.replay(db, campaign, actor=CLI_ACTOR)
        if count:
            _enqueue_due(settings, db)
    out.print(f"{count} dead-lettered record(s) replayed")
