"""``newsletter audit``: who did what, when, to which campaign, and from where."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli.common import MAX_CAMPAIGN_ID, cli_settings, command_database, out, reported_errors
from publisher.cli.terminal import safe_json, safe_table

app = typer.Typer()


@app.command()
def audit(
    campaign: Annotated[int | None, typer.Option(min=1, max=MAX_CAMPAIGN_ID, help="Only the entries of this campaign.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many of the latest entries.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the audit log, newest first: console users, API tokens and the command line."""
    from publisher.accounts.audit import entries

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        found = entries(db, campaign, limit=limit)
    if as_json:
        print(safe_json([entry.as_dict() for entry in found]))
        return
    rows = (
        [
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            entry.action,
            "-" if entry.campaign_id is None else entry.campaign_id,
            entry.target,
            entry.detail,
            entry.ip or "-",
        ]
        for entry in found
    )
    table = safe_table("Audit log", ("when", "who", "what", "campaign", "target", "detail", "ip"), rows)
    out.print(table)
    out.print(f"{len(found)} entr(ies)")
