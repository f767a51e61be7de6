"""``newsletter resend ID --to non-openers``: send a complete issue again to those who did not open it, once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli.common import EXIT_INPUT, CampaignId, cli_settings, err, fail, parse_time, reported_errors
from publisher.cli.terminal import safe

app = typer.Typer()

AUDIENCES = ("non-openers",)


@app.command()
def resend(
    campaign_id: CampaignId,
    to: Annotated[str, typer.Option("--to", help="Who gets it: `non-openers` (sent the issue, no human open or click).")],
    subject: Annotated[str | None, typer.Option(help="A new subject (one line, up to 500 characters); else the issue's.")] = None,
    send_at: Annotated[str | None, typer.Option(help="ISO 8601 time to send at (no offset means UTC).")] = None,
) -> None:
    """Resend an issue to the recipients who did not open it, as a new campaign; a campaign is resent once."""
    from publisher import sending
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.core.broker import check_reachable, redis_url
    from publisher.db.engine import open_database
    from publisher.ledger.resend import ResendOrder, check_subject
    from publisher.queue import deliver_webhooks_after_commit
    from workers.providers import check_provider

    if to not in AUDIENCES:
        fail(f"--to {to[:40]!r}: the one audience of a resend is {', '.join(AUDIENCES)}", EXIT_INPUT)
    settings = cli_settings()
    moment = parse_time(send_at) if send_at is not None else None
    with reported_errors():
        new_subject = check_subject(subject) if subject is not None else None
        # Checked before anything is written, as `newsletter send` does.
        check_reachable(redis_url(settings), settings.redis_sentinel_master)
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        deliver_webhooks_after_commit(settings, db, redis_url(settings))
        try:
            created = sending.resend(settings, db, ResendOrder(campaign_id, new_subject, moment), CLI_ACTOR, check_provider)
        finally:
            db.dispose()
    batches = len(created.batch_ids)
    err.print(safe(f"resend of campaign {campaign_id}: {created.recipients} non-opener(s) in {batches} batch(es)"), soft_wrap=True)
    if created.scheduled:
        assert moment is not None
        err.print(f"scheduled for {moment.isoformat()}; a running worker releases it then")
    elif created.due_batch_ids:
        err.print(f"enqueued {len(created.due_batch_ids)} batch(es); run `newsletter worker` to deliver")
    sys.stderr.flush()
    print(f"campaign {created.id}", flush=True)
