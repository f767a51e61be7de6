"""The opens and clicks part of ``newsletter report``: human and machine side by side, top links, the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from publisher.cli.common import out
from publisher.cli.terminal import safe

if TYPE_CHECKING:
    from publisher.ledger.report import CampaignReport
    from publisher.tracking.summary import EngagementSummary

UNTRACKED = (
    "opens and clicks: not tracked: its emails carried no open pixel and no tracked links, so which recipients opened or clicked, "
    "human or machine, is unknown; the provider's own events below are all there is"
)
#: What a human or machine figure of an untracked campaign reads: unknown, never zero.
UNKNOWN = "unknown (not tracked)"
TIMELINE = (
    "opens and clicks over time (UTC; unique recipients, hourly for 48 h from the hour of the first send, then daily; empty ones left out)"
)


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _count(count: int | None) -> str:
    return UNKNOWN if count is None else str(count)


def show_engagement(result: CampaignReport) -> None:
    """Print the unique human and machine figures with their rates, then the top links, the timeline and the provider's events."""
    engagement = result.engagement
    figures, rates = result.figures, result.rates
    if engagement.tracking:
        out.print(f"opens and clicks: tracked; unique recipients, rates are shares of sent ({figures['sent']})", soft_wrap=True)
    else:
        out.print(UNTRACKED, soft_wrap=True)
    table = Table(box=None, pad_edge=False)
    for column in ("figure", "human", "rate", "machine only", "rate"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name in ("opened", "clicked"):
        human, machine = f"{name}_human", f"{name}_machine"
        table.add_row(name, _count(figures[human]), _rate(rates[human]), _count(figures[machine]), _rate(rates[machine]))
    out.print(table)
    if engagement.tracking:
        _links(engagement)
        _timeline(engagement)
    # The provider's figures stand apart: they overlap the human and machine ones and are never added to them.
    opened = f"opened {figures['opened']} ({_rate(rates['opened'])})"
    clicked = f"clicked {figures['clicked']} ({_rate(rates['clicked'])})"
    totals = f"opens {figures['opens']}, clicks {figures['clicks']}"
    out.print(f"provider events, unclassified (unique recipients, rates of sent): {opened}, {clicked}; events: {totals}", soft_wrap=True)


def _links(engagement: EngagementSummary) -> None:
    shown = engagement.top_links
    if not shown:
        out.print("top links: no clicks yet")
        return
    out.print(f"top links (unique clickers; {len(shown)} of {engagement.links_total})")
    table = Table(box=None, pad_edge=False)
    table.add_column("human", justify="right")
    table.add_column("machine only", justify="right")
    table.add_column("url", overflow="fold")
    for link in shown:
        # Text, not a string: a URL a provider reported is shown as it is, never read as markup.
        table.add_row(str(link.clicked_human), str(link.clicked_machine), Text(safe(link.url)))
    out.print(table)


def _timeline(engagement: EngagementSummary) -> None:
    buckets = [b for b in engagement.timeline if b.opened_human or b.opened_machine or b.clicked_human or b.clicked_machine]
    if not buckets:
        out.print("over time: no opens or clicks yet")
        return
    out.print(TIMELINE, soft_wrap=True)
    table = Table(box=None, pad_edge=False)
    table.add_column("from")
    table.add_column("for")
    for column in ("opened human", "opened machine", "clicked human", "clicked machine"):
        table.add_column(column, justify="right")
    for bucket in buckets:
        counts = (bucket.opened_human, bucket.opened_machine, bucket.clicked_human, bucket.clicked_machine)
        table.add_row(bucket.start.strftime("%Y-%m-%d %H:%M"), "1 h" if bucket.hourly else "1 day", *(str(count) for count in counts))
    out.print(table)
