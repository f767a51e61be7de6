"""``newsletter approve ID``: a sender's approval of a draft the workers' sweep sends by itself (the recap rule auto)."""

from __future__ import annotations

import sys

import typer

from publisher.cli.common import EXIT_INPUT, DraftId, cli_settings, command_database, err, fail, reported_errors
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def approve(campaign_id: DraftId) -> None:
    """Approve an automatic recap draft: the workers' sweep sends it at its send time, or at its next sweep if that has passed."""
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.core.clock import utcnow
    from publisher.ledger.approval import approve as approve_draft
    from publisher.ledger.drafts import LintRefused

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        try:
            approval = approve_draft(db, campaign_id, CLI_ACTOR)
        except LintRefused as exc:
            for finding in exc.findings:
                err.print(safe(f"lint error: {finding.get('check', '?')}: {finding.get('message', '')}"), soft_wrap=True)
            fail(f"campaign {campaign_id} has {len(exc.findings)} lint error(s): fix them, then approve it", EXIT_INPUT)
    when = approval.auto_send_at.isoformat()
    if not approval.new:
        already = f"campaign {campaign_id} was approved already, by {approval.approved_by} at {approval.approved_at.isoformat()}"
        err.print(safe(already), soft_wrap=True)
    if approval.auto_send_at > utcnow():
        err.print(f"campaign {campaign_id} approved: a running worker sends it at {when}", soft_wrap=True)
    else:
        err.print(f"campaign {campaign_id} approved: due since {when}, a running worker sends it at its next sweep", soft_wrap=True)
    sys.stderr.flush()
    print(f"campaign {campaign_id}", flush=True)
