"""How ``newsletter status`` shows things: a table, progress bars with rate and ETA, queues and providers."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import redis
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from publisher.cli.terminal import safe, safe_json
from publisher.core.settings import Settings
from publisher.db.models import DeliveryState
from publisher.ledger.status import CampaignProgress
from publisher.ledger.subject_test_figures import SubjectTestProgress
from workers.delivery.provider_state import ProviderState
from workers.delivery.rate_limit import RateLimiter

#: Longest title shown; a longer one ends in an ellipsis.
TITLE_WIDTH = 32
#: Every delivery state, as the status output names it (short enough for one line at any width).
COUNT_LABELS = {state.value: state.value.replace("_", " ") for state in DeliveryState}


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
    console.print(render(report, console.width))


def render(report: StatusReport, width: int) -> Group:
    """The whole report for a terminal ``width`` columns wide: campaigns, then queues and providers.

    The table is used when every column fits on one line; otherwise each
    campaign gets a block of lines, so no header or number is ever split.
    """
    parts: list[RenderableType] = [campaign_view(report.campaigns, width)]
    lines = [f"campaign {c.id} is paused: {safe(c.pause_reason)}" for c in report.campaigns if c.pause_reason]
    lines.extend(subject_test_line(c) for c in report.campaigns if c.subject_test)
    dead = sum(c.dead_letters for c in report.campaigns)
    if dead:
        lines.append(f"dead letters: {dead} (`newsletter dlq list`)")
    if report.in_doubt:
        addresses = ", ".join(map(safe, report.in_doubt))
        lines.append(f"in doubt (may or may not have been sent; `newsletter reconcile` settles them): {addresses}")
    # Sentences may wrap between words; the queue and provider figures break only between figures.
    parts.extend(Text(line) for line in lines)
    if report.queues is None:
        parts.append(Text("queues: Redis not reachable"))
    else:
        queues = [f"{name} {count}," for name, count in report.queues.items()]
        parts.extend(Text(line) for line in _flow(["queues:", *queues], width, "", gap=" ", last=","))
    for name, health in report.providers.items():
        figures = [safe(f"{key} {value},") for key, value in health.items()]
        parts.extend(Text(line) for line in _flow([safe(f"provider {name}:"), *figures], width, "", gap=" ", last=","))
    return Group(*parts)


def campaign_view(campaigns: list[CampaignProgress], width: int) -> RenderableType:
    """The campaigns as a table when it fits ``width`` unwrapped, else as one block per campaign."""
    table = _campaign_table(campaigns)
    if _natural_width(table) <= width:
        return table
    return Group(Text("Campaigns", style="italic"), *(_campaign_block(c, width) for c in campaigns))


def _natural_width(table: Table) -> int:
    console = Console(width=10_000, color_system=None, file=io.StringIO())
    return Measurement.get(console, console.options, table).maximum


def _campaign_table(campaigns: list[CampaignProgress]) -> Table:
    table = Table(title="Campaigns")
    for column in ("id", "title", "list", "status", *COUNT_LABELS.values(), "total", "progress"):
        table.add_column(column, no_wrap=True)
    for c in campaigns:
        progress = Table.grid(padding=(0, 1))
        progress.add_row(ProgressBar(total=max(1, c.total), completed=c.total - c.open, width=16), _percent(c) + _rate(c))
        # Text cells, not strings: a string cell is parsed as rich markup.
        cells = [str(c.id), _title(c), _list_label(c), c.status, *[str(c.counts[s]) for s in COUNT_LABELS], str(c.total)]
        table.add_row(*(Text(cell) for cell in cells), progress)
    releases = [f"#{c.id} {_next_release(c).replace('  ', ' ')}" for c in campaigns if c.next_release]
    if releases:
        table.caption = Text("\n".join(releases))
    return table


def _campaign_block(c: CampaignProgress, width: int) -> Group:
    """A campaign on a few lines: what it is, every count, and its progress."""
    indent = "  "
    head = _flow([f"#{c.id}", _title(c), f"list {_list_label(c)}", c.status], width, "")
    counts = _flow([*(f"{label} {c.counts[state]}" for state, label in COUNT_LABELS.items()), f"total {c.total}"], width, indent)
    tail = _percent(c) + _rate(c)
    bar_width = max(4, min(30, width - len(indent) - len(tail) - 1))
    bar = Table.grid(padding=(0, 1))
    bar.add_row(Text(indent[:-1]), ProgressBar(total=max(1, c.total), completed=c.total - c.open, width=bar_width), Text(tail))
    upcoming = _flow(_next_release(c).split("  "), width, indent, gap=" ") if c.next_release else []
    return Group(*(Text(line) for line in head), *(Text(line) for line in counts), *(Text(line) for line in upcoming), bar)


def _next_release(c: CampaignProgress) -> str:
    """When the campaign's next recipients go out: ``next release 2026-01-16 08:00 UTC: 120 recipient(s) (Europe/Paris)``.

    A subject test's remainder goes out when its winner is decided: ``subject-test decision … UTC: 82 recipient(s) get the winner``.
    """
    release = c.next_release
    assert release is not None
    # Double spaces mark where a narrow block may break the line.
    if release.decision:
        late = " (overdue)" if c.subject_test is not None and c.subject_test.decision_overdue else ""
        return f"subject-test decision {release.release_at:%Y-%m-%d %H:%M} UTC{late}:  {release.recipients} recipient(s) get the winner"
    zones = f" ({', '.join(release.zones[:3])}{', …' if len(release.zones) > 3 else ''})" if release.zones else ""
    return f"next release {release.release_at:%Y-%m-%d %H:%M} UTC:  {release.recipients} recipient(s){zones.replace(' (', '  (', 1)}"


def subject_test_line(c: CampaignProgress) -> str:
    """The test's share and the remainder apart, each with its own sent count.

    ``campaign 7 subject test: 21 in the test (20%: variant 1 7 of 7 sent, …); 82 in the remainder wait for the winner: …``.
    """
    test = c.subject_test
    assert test is not None
    variants = ", ".join(f"variant {v.number} {v.test_sent} of {v.recipients} sent" for v in test.variants)
    if test.winner is None:
        rest = f"wait for the winner: the subject-test decision {_decision_time(c)} (or `newsletter pick-winner {c.id} N`)"
    else:
        how = {"significant": "the test's winner", "not_significant": "no significant difference", "by_hand": "picked by hand"}
        decided = f"({how.get(test.decision or '', test.decision or '')})"
        rest = f"get variant {test.winner} {decided}: {test.remainder_sent} of {test.remainder_recipients} sent"
    remainder = f"{test.remainder_recipients} in the remainder {rest}"
    return f"campaign {c.id} subject test: {test.test_recipients} in the test ({test.share}%: {variants}); {remainder}"


def _decision_time(c: CampaignProgress) -> str:
    """When the sweep decides: a full wait after the test's share starts (or resumes) sending (docs/subject-tests.md)."""
    test = c.subject_test
    assert test is not None
    wait = test.wait
    if test.decision_overdue and test.decide_at is not None:
        return f"was due at {test.decide_at:%Y-%m-%d %H:%M} UTC {_overdue_because(test)}, on human {test.metric}"
    if c.status == "sending" and test.decide_at is not None:
        return f"is due at {test.decide_at:%Y-%m-%d %H:%M} UTC, on human {test.metric}"
    if c.status == "paused":
        return f"comes {wait} after the campaign is resumed, on human {test.metric}"
    return f"comes {wait} after the test starts sending, on human {test.metric}"


def _overdue_because(test: SubjectTestProgress) -> str:
    """What an overdue decision waits for, and by when at the latest (``subject_test_decision.decide`` has the rules)."""
    if test.decide_by is None:
        # None of the test share went out (the workers were down): the sweep gives the test its full wait again.
        return f"but none of the test share has been sent yet: the workers' next sweep gives the test a full {test.wait} wait again"
    if not test.test_unsent:
        return "and none of the test share is left to send: the workers' next sweep takes it"
    unsent = f"{test.test_unsent} of {test.test_recipients}"
    if test.next_sweep_decides:
        # No time is left for the rest (a wait as long as NEWSLETTER_TRACKING_DAYS, or sweeps that did not run).
        return (
            f"with {unsent} test records still to send: its latest time has passed, "
            "so the workers' next sweep takes it without waiting for them"
        )
    # Workers that died, or a slow provider, left part of the test share unsent (docs/subject-tests.md).
    return (
        f"and waits for the rest of the test share ({unsent} still to send): "
        f"it is taken once they are sent, by {test.decide_by:%Y-%m-%d %H:%M} UTC at the latest"
    )


def _flow(items: list[str], width: int, indent: str, *, gap: str = "  ", last: str = "") -> list[str]:
    """Lay ``items`` out on lines of at most ``width`` columns, breaking only between items.

    An item too long for a line by itself is cut short with an ellipsis;
    ``last`` is taken off the end of the final item (a trailing comma).
    """
    if items and last and items[-1].endswith(last):
        items = [*items[:-1], items[-1].removesuffix(last)]
    room = max(8, width - len(indent))
    lines: list[str] = []
    line = ""
    for item in items:
        if len(item) > room:
            item = item[: room - 1] + "…"
        candidate = f"{line}{gap}{item}" if line else item
        if len(candidate) <= room:
            line = candidate
            continue
        lines.append(line)
        line = item
    if line:
        lines.append(line)
    return [indent + line for line in lines]


def _title(c: CampaignProgress) -> str:
    return safe(c.title if len(c.title) <= TITLE_WIDTH else c.title[: TITLE_WIDTH - 1] + "…")


def _list_label(c: CampaignProgress) -> str:
    return safe(c.list_name or "-") + (" (test)" if c.is_test else "")


def _percent(c: CampaignProgress) -> str:
    return f"{100 * (c.total - c.open) // max(1, c.total)}%"


def _rate(campaign: CampaignProgress) -> str:
    if not campaign.rate:
        return ""
    eta = campaign.eta_seconds
    return f" {campaign.rate:.1f}/s" + (f", ETA {eta:.0f}s" if eta else "")


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
