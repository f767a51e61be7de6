"""What the campaign page shows live: counts by state, rate, ETA, provider health, and the report with its charts.

Opens and clicks are drawn from the engagements ledger: human and
machine-only recipients stacked per bucket of ``publisher.tracking.timeline``.

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
from publisher.tracking.timeline import HOURLY_HOURS, TimelineBucket
from publisher.web.console.charts import Chart, StackedChart, columns, rows, stacked_columns
from publisher.web.deps import WebContext

#: The outcomes chart's bars: figure and label.
OUTCOMES = (
    ("delivered", "delivered"),
    ("bounced", "bounced"),
    ("complained", "complained"),
    ("unsubscribed", "unsubscribed"),
)
#: Its opens and clicks: the people's, not the proxies' and scanners', when the campaign is tracked.
TRACKED_OUTCOMES = (("opened_human", "opened (human)"), ("clicked_human", "clicked (human)"))
#: Without tracking who opened is unknown: the provider's own events, unclassified, are all there is.
UNTRACKED_OUTCOMES = (("opened", "opened (provider)"), ("clicked", "clicked (provider)"))
SERIES = ("human", "machine only")
BUCKETS = (
    f"Each recipient counts once, at their first open or click: hourly for {HOURLY_HOURS} h from the hour of the first send, then daily."
)


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
    opens_over_time: StackedChart
    clicks_over_time: StackedChart

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


def live(ctx: WebContext, campaign_id: int, *, fresh: bool = True) -> Live:
    """What the page shows now; with ``fresh=False`` (the live fragment) opens and clicks may be up to REFRESH old."""
    progress = campaign_progress(ctx.db, campaign_id, kept=ctx.settings.tracking_kept)[0]
    kept = None if fresh else ctx.engagements.recent(campaign_id)
    report = campaign_report(ctx.db, campaign_id, engagement=kept)
    if kept is None:
        ctx.engagements.keep(campaign_id, report.engagement)
    providers = by_provider(ctx.db, campaign_id)
    names = list(dict.fromkeys([progress.provider, *(name for name in providers if name != "none")]))
    timeline = deliveries_over_time(ctx.db, campaign_id)
    figures = report.figures
    outcomes = (*OUTCOMES, *(TRACKED_OUTCOMES if report.engagement.tracking else UNTRACKED_OUTCOMES))
    return Live(
        progress=progress,
        health=provider_health(ctx.redis, [name for name in names if name]),
        report=report,
        over_time=columns("Deliveries over time", [(bucket.start.strftime("%H:%M:%S"), bucket.sent) for bucket in timeline]),
        outcomes=rows("Outcomes", [(label, figures[name] or 0) for name, label in outcomes]),
        providers=providers,
        per_provider=rows(
            "Sent per provider", [(name, states[DeliveryState.SENT.value]) for name, states in providers.items() if name != "none"]
        ),
        opens_over_time=over_time("Opens over time", report.engagement.timeline, "opened"),
        clicks_over_time=over_time("Clicks over time", report.engagement.timeline, "clicked"),
    )


def over_time(title: str, timeline: list[TimelineBucket], figure: str) -> StackedChart:
    """Human and machine-only recipients of ``figure`` ("opened" or "clicked") per bucket.

    The times read "2 Mar 14:00", with the year as well when the timeline runs into another year.
    """
    years = timeline and timeline[0].start.year != timeline[-1].start.year
    items = [
        (
            f"{bucket.start.day} {bucket.start:%b %Y %H:%M}" if years else f"{bucket.start.day} {bucket.start:%b %H:%M}",
            "hour" if bucket.hourly else "day",
            getattr(bucket, f"{figure}_human"),
            getattr(bucket, f"{figure}_machine"),
        )
        for bucket in timeline
    ]
    empty = "No opens yet." if figure == "opened" else "No clicks yet."
    return stacked_columns(title, SERIES, items, note=BUCKETS, empty=empty)
