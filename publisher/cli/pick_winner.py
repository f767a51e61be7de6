"""``newsletter pick-winner ID N``: decide a campaign's subject test by hand, before its wait has passed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli.common import CampaignId, cli_settings, command_database, err, reported_errors

app = typer.Typer()


@app.command("pick-winner")
def pick_winner(
    campaign_id: CampaignId,
    variant: Annotated[int, typer.Argument(min=1, max=4, help="The winning variant, counted from 1 (the recap's own subject).")],
) -> None:
    """Send the rest of the list subject variant N now, instead of waiting for the test's decision."""
    from publisher import sending
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.core.broker import redis_url
    from publisher.queue import deliver_webhooks_after_commit

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        deliver_webhooks_after_commit(settings, db, redis_url(settings, start=False))
        sending.pick_winner(settings, db, campaign_id, variant, CLI_ACTOR)
    err.print(f"campaign {campaign_id}: variant {variant} picked; the rest of the list is sent its subject", soft_wrap=True)
    sys.stderr.flush()
    print(f"campaign {campaign_id}", flush=True)
