"""``newsletter send ID``: send or schedule a draft, once, as ``newsletter publish`` sends a recap file."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli.common import EXIT_INPUT, DraftId, cli_settings, err, fail, parse_local_time, parse_time, reported_errors
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def send(
    campaign_id: DraftId,
    send_at: Annotated[str | None, typer.Option(help="ISO 8601 time to send at (no offset means UTC).")] = None,
    local_time: Annotated[
        bool,
        typer.Option(
            "--local-time", help="Send at --send-at (no offset) in each subscriber's time zone, else the list's (`lists set --timezone`)."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Send even when the draft has lint errors.")] = False,
) -> None:
    """Freeze a draft's audience and enqueue its delivery, or schedule it; a draft is sent once."""
    from publisher import sending
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.cli.publishing import report_local_time, report_subject_test
    from publisher.core.broker import check_reachable, redis_url
    from publisher.db.engine import open_database
    from publisher.ledger.drafts import LintRefused, SendOrder, load_draft
    from publisher.queue import deliver_webhooks_after_commit
    from workers.providers import check_provider

    settings = cli_settings()
    local = parse_local_time(send_at) if local_time else None
    moment = parse_time(send_at) if send_at is not None and local is None else None
    tested: list[str] = []
    with reported_errors():
        # Checked before anything is written, as `newsletter publish` does: a
        # draft sent with no broker would wait for the workers' sweep unseen.
        check_reachable(redis_url(settings), settings.redis_sentinel_master)
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        deliver_webhooks_after_commit(settings, db, redis_url(settings))
        try:
            order = SendOrder(campaign_id, send_at=moment, local_time=local, force=force)
            created = sending.send(settings, db, order, CLI_ACTOR, check_provider)
            provider = load_draft(db, campaign_id).provider
            if created.subject_test:
                report_subject_test(db, created.id, tested.append)
        except LintRefused as exc:
            for finding in exc.findings:
                err.print(safe(f"lint error: {finding.get('check', '?')}: {finding.get('message', '')}"), soft_wrap=True)
            fail(f"campaign {campaign_id} has {len(exc.findings)} lint error(s): fix them, or send with --force", EXIT_INPUT)
        finally:
            db.dispose()
    batches = len(created.batch_ids)
    err.print(safe(f"campaign {created.id}: {created.recipients} recipient(s) in {batches} batch(es) via {provider}"), soft_wrap=True)
    for line in tested:
        err.print(safe(line), soft_wrap=True)
    if local is not None:
        report_local_time(created, local, lambda line: err.print(safe(line), soft_wrap=True))
    if created.scheduled and local is None:
        assert moment is not None
        err.print(f"scheduled for {moment.isoformat()}; a running worker releases it then")
    elif created.due_batch_ids:
        err.print(f"enqueued {len(created.due_batch_ids)} batch(es); run `newsletter worker` to deliver")
    sys.stderr.flush()
    print(f"campaign {created.id}", flush=True)
