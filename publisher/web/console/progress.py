"""What the campaign page shows live: counts by state, rate, ETA, provider health, and the report with its charts.

Provider health is read from the Redis keys the workers keep, through
``publisher.core.provider_health``: a pause with its remaining time, and
whether the circuit is open, as ``newsletter status`` shows them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

from publisher.core import provider_health as provider_keys
from publisher.db.models import DeliveryState
from publisher.ledger.report import CampaignReport, campaign_report
from publisher.ledger.results import by_provider, deliveries_over_time
from publisher.ledger.status import CampaignProgress, campaign_progress
from publisher.web.console.charts import Chart, columns, rows
from publisher.web.deps import WebContext

OUTCOMES = ("delivered", "bounced", "complained", "unsubscribed", "opened", "clicked")


@dataclass(frozen=True)
class Health:
    provider: str
    paused_for: float
    circuit_open: bool
    reachable: bool = True

    @property
    def summary(self) -> str:
        if not self.reachable:
            return "unknown (Redis not reachable)"
        if self.paused_for:
            return f"paused for {self.paused_for:.0f} s more"
        return "circuit open: batches go to the fallback" if self.circuit_open else "healthy"


@dataclass(frozen=True)
class Live:
    progress: CampaignProgress
    health: list[Health]
    report: CampaignReport
    over_time: Chart
    outcomes: Chart
    providers: dict[str, dict[str, int]]
    per_provider: Chart

    @property
    def done(self) -> int:
        return self.progress.total - self.progress.open

    @property
    def states(self) -> list[str]:
        return [state.value for state in DeliveryState]


def provider_health(client: redis.Redis, names: list[str]) -> list[Health]:
    try:
        return [Health(name, provider_keys.paused_for(client, name), provider_keys.circuit_open(client, name)) for name in names]
    except (RedisError, OSError):
        return [Health(name, 0.0, False, reachable=False) for name in names]


def live(ctx: WebContext, campaign_id: int) -> Live:
    progress = campaign_progress(ctx.db, campaign_id)[0]
    report = campaign_report(ctx.db, campaign_id)
    providers = by_provider(ctx.db, campaign_id)
    names = list(dict.fromkeys([progress.provider, *(name for name in providers if name != "none")]))
    timeline = deliveries_over_time(ctx.db, campaign_id)
    figures = report.figures
    return Live(
        progress=progress,
        health=provider_health(ctx.redis, [name for name in names if name]),
        report=report,
        over_time=columns("Deliveries over time", [(bucket.start.strftime("%H:%M:%S"), bucket.sent) for bucket in timeline]),
        outcomes=rows("Outcomes", [(name, figures[name]) for name in OUTCOMES]),
        providers=providers,
        per_provider=rows(
            "Sent per provider", [(name, states[DeliveryState.SENT.value]) for name, states in providers.items() if name != "none"]
        ),
    )
