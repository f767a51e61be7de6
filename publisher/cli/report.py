"""``newsletter report``: what became of one campaign."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from publisher.cli.common import CampaignId, cli_settings, out, reported_errors
from publisher.cli.terminal import safe, safe_json

app = typer.Typer()


if TYPE_CHECKING:
    from publisher.ledger.report import CampaignReport

#: Rows of the text report: figure, and the base its rate is a share of (None: no rate).
ROWS: tuple[tuple[str, str | None], ...] = (
    ("recipients", None),
    ("sent", None),
    ("delivered", "sent"),
    ("bounced", "sent"),
    ("bounced_hard", None),
    ("bounced_soft", None),
    ("complained", "sent"),
    ("unsubscribed", "sent"),
    ("opened", "sent"),
    ("clicked", "sent"),
    ("failed", "recipients"),
    ("in_doubt", None),
    ("suppressed", None),
    ("cancelled", None),
    ("pending", None),
)
LABELS = {"bounced_hard": "  hard", "bounced_soft": "  soft", "in_doubt": "in doubt", "pending": "not sent yet"}


@app.command()
def report(
    campaign_id: CampaignId,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what became of a campaign: sent, delivered, bounced, complained, unsubscribed, failed, with rates."""
    from publisher.db.engine import open_database
    from publisher.ledger.report import campaign_report

    with reported_errors():
        result = campaign_report(open_database(cli_settings().resolved_database_url), campaign_id)
    if as_json:
        print(safe_json(result.as_dict()))
        return
    show(result)


def show(result: CampaignReport) -> None:
    where = f"list {safe(result.list_name)}" if result.list_name else "no list"
    released = result.released_at.strftime("%Y-%m-%d %H:%M UTC") if result.released_at else "not released"
    test = ", test send" if result.is_test else ""
    out.print(f"campaign {result.id}: {safe(result.title)} ({where}, {result.status}, released {released}{test})", soft_wrap=True)
    if result.resend_of is not None:
        out.print(f"the resend of campaign {result.resend_of} to its non-openers: these figures are the resend's own")
    if result.resent_as is not None:
        out.print(f"resent to its non-openers as campaign {result.resent_as} (`newsletter report {result.resent_as}`)")
    figures, rates = result.figures, result.rates
    table = Table(box=None, pad_edge=False)
    table.add_column("figure")
    table.add_column("count", justify="right")
    table.add_column("rate", justify="right")
    for name, base in ROWS:
        rate = rates.get(name)
        if base is None:
            shown = ""
        elif rate is None:
            shown = "-"
        else:
            shown = f"{rate:.1%} of {base}"
        table.add_row(LABELS.get(name, name), str(figures[name]), shown)
    out.print(table)
    out.print(f"opens {figures['opens']} ({figures['opened']} unique), clicks {figures['clicks']} ({figures['clicked']} unique)")
