"""How ``newsletter status`` shows things: a table, progress bars with rate and ETA, queues and providers."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from publisher.cli.terminal import safe, safe_json
from publisher.core.settings import Settings
from publisher.db.models import DeliveryState
from publisher.ledger.status import CampaignProgress
from workers.delivery.provider_state import ProviderState
from workers.delivery.rate_limit import RateLimiter


@dataclass
class StatusReport:
    campaigns: list[CampaignProgress]
    queues: dict[str, int] | None = None
    providers: dict[str, dict[str, object]] = field(default_factory=dict)
    in_doubt: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "campaigns": [c.as_dict() for c in self.campaigns],
            "queues": self.queues,
            "providers": self.providers,
            "in_doubt": self.in_doubt,
        }


def show(console: Console, report: StatusReport, *, as_json: bool) -> None:
    if as_json:
        print(safe_json(report.as_dict()))
        return
    console.print(_campaign_table(report.campaigns))
    for campaign in report.campaigns:
        if campaign.pause_reason:
            console.print(f"campaign {campaign.id} is paused: {safe(campaign.pause_reason)}", markup=False)
    dead = sum(c.dead_letters for c in report.campaigns)
    if dead:
        console.print(f"dead letters: {dead} (`newsletter dlq list`)")
    if report.in_doubt:
        addresses = ", ".join(safe(address) for address in report.in_doubt)
        console.print(f"in doubt (may or may not have been sent; `newsletter reconcile` settles them): {addresses}", markup=False)
    if report.queues is None:
        console.print("queues: Redis not reachable")
    else:
        console.print("queues: " + ", ".join(f"{name} {count}" for name, count in report.queues.items()))
    for name, health in report.providers.items():
        console.print(safe(f"provider {name}: " + ", ".join(f"{key} {value}" for key, value in health.items())), markup=False)


def _campaign_table(campaigns: list[CampaignProgress]) -> Table:
    table = Table(title="Campaigns")
    for column in ("id", "title", "list", "status", *[s.value for s in DeliveryState], "total", "progress"):
        table.add_column(column, overflow="fold")
    for c in campaigns:
        label = safe(c.title if len(c.title) <= 32 else c.title[:31] + "…")
        list_label = safe(c.list_name or "-") + (" (test)" if c.is_test else "")
        done = c.total - c.open
        progress = Table.grid(padding=(0, 1))
        progress.add_row(ProgressBar(total=max(1, c.total), completed=done, width=16), _rate(c))
        # Text cells, not strings: a string cell is parsed as rich markup.
        cells = [str(c.id), label, list_label, c.status, *[str(c.counts[s.value]) for s in DeliveryState], str(c.total)]
        table.add_row(*(Text(cell) for cell in cells), progress)
    return table


def _rate(campaign: CampaignProgress) -> str:
    if not campaign.rate:
        return ""
    eta = campaign.eta_seconds
    return f"{campaign.rate:.1f}/s" + (f", ETA {eta:.0f}s" if eta else "")


def provider_health(client: redis.Redis, settings: Settings, providers: set[str]) -> dict[str, dict[str, object]]:
    """Pause, circuit and rate-limit state of each provider, as every worker sees it."""
    state, limiter = ProviderState(client, settings), RateLimiter(client)
    return {
        name: {
            "paused_for": round(state.paused_for(name), 1),
            "circuit_open": state.circuit_open(name),
            "rate_limit_busy_for": limiter.state(name),
        }
        for name in sorted(providers)
    }
