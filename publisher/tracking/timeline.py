"""Opens and clicks over time: each recipient once per metric, in the bucket of their first engagement.

The buckets start at the hour of the campaign's first send (rounded down to
the whole hour, so they read 14:00, 15:00, …): hourly for the first
``HOURLY_HOURS`` hours, when most readers open, then daily. The list runs to
the last bucket anyone falls in, empty buckets included, so the times are
explicit.

A human opener is placed at their first *human* open or click (a privacy
proxy that fetched the pixel at delivery does not move a reader who opened
two days later into the first hour); a recipient seen only by machines is
placed at their first engagement. Clicks follow the same rule over clicks
alone. The buckets therefore add up to the unique figures of
``publisher.tracking.figures`` exactly: anything before the first bucket
counts in it, and anything after ``TIMELINE_DAYS`` (a provider's clock far
off) in the last.

The buckets are counted by the database: two queries (opens, clicks), each
grouping the recipients' first times by bucket, so at most one row per
bucket comes back however many recipients engaged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, case, func, select
from sqlalchemy.orm import Session

from publisher.db.functions import whole_seconds
from publisher.db.models import Engagement, EngagementKind

#: Hours of hourly buckets from the first send; after them the buckets are a day wide.
HOURLY_HOURS = 48
#: Days after the hourly buckets the timeline covers at most (a year: longer than readers come back).
TIMELINE_DAYS = 366
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class TimelineBucket:
    """Recipients whose first (human, or machine-only) open and click fell in [start, end)."""

    start: dt.datetime
    end: dt.datetime
    opened_human: int = 0
    opened_machine: int = 0
    clicked_human: int = 0
    clicked_machine: int = 0

    @property
    def hourly(self) -> bool:
        return self.end - self.start == HOUR

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "opened_human": self.opened_human,
            "opened_machine": self.opened_machine,
            "clicked_human": self.clicked_human,
            "clicked_machine": self.clicked_machine,
        }


def timeline_origin(first_send: dt.datetime) -> dt.datetime:
    """The start of the first bucket: the whole hour of the first send."""
    return first_send.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def bucket_index(origin: dt.datetime, moment: dt.datetime) -> int:
    """The number of the bucket ``moment`` falls in, clamped to the timeline (0 before it, the last after it)."""
    elapsed = (moment - origin).total_seconds()
    if elapsed < 0:
        return 0
    hours = int(elapsed // 3600)
    if hours < HOURLY_HOURS:
        return hours
    return HOURLY_HOURS + min(TIMELINE_DAYS - 1, (hours - HOURLY_HOURS) // 24)


def bucket_bounds(origin: dt.datetime, index: int) -> tuple[dt.datetime, dt.datetime]:
    """The start and end of bucket ``index``."""
    if index < HOURLY_HOURS:
        start = origin + index * HOUR
        return start, start + HOUR
    start = origin + HOURLY_HOURS * HOUR + (index - HOURLY_HOURS) * DAY
    return start, start + DAY


def _bucket_of(moment: ColumnElement[dt.datetime], origin: dt.datetime) -> ColumnElement[int]:
    """``bucket_index`` in SQL: the number of the bucket ``moment`` falls in."""
    elapsed = whole_seconds(moment) - int(origin.timestamp())
    # Integer division, and elapsed is never negative where it is used: the hours rounded down.
    hours = elapsed // 3600
    days = (hours - HOURLY_HOURS) // 24
    return case(
        (elapsed < 0, 0),
        (hours < HOURLY_HOURS, hours),
        (days >= TIMELINE_DAYS - 1, HOURLY_HOURS + TIMELINE_DAYS - 1),
        else_=HOURLY_HOURS + days,
    )


def _firsts(campaign_id: int) -> Subquery:
    """One row per recipient seen: their first human open or click, first at all, first human click, first click."""
    not_machine = Engagement.machine.is_(False)
    is_click = Engagement.kind == EngagementKind.CLICK
    return (
        select(
            func.min(case((not_machine, Engagement.occurred_at))).label("human_open"),
            func.min(Engagement.occurred_at).label("any_open"),
            func.min(case((and_(is_click, not_machine), Engagement.occurred_at))).label("human_click"),
            func.min(case((is_click, Engagement.occurred_at))).label("any_click"),
        )
        .where(Engagement.campaign_id == campaign_id)
        .group_by(Engagement.delivery_id)
        .subquery()
    )


def _counts(session: Session, firsts: Subquery, metric: str, origin: dt.datetime) -> list[tuple[int, int, int]]:
    """(bucket, human, machine-only) for ``metric`` ("open" or "click"): a human at their first human one, else at their first."""
    human_at, any_at = firsts.c[f"human_{metric}"], firsts.c[f"any_{metric}"]
    placed = (
        select(
            _bucket_of(func.coalesce(human_at, any_at), origin).label("bucket"),
            case((human_at.is_not(None), 1), else_=0).label("human"),
        )
        .where(any_at.is_not(None))
        .subquery()
    )
    # Grouped outside the subquery: PostgreSQL would not match a GROUP BY expression whose parameters are bound apart.
    query = select(placed.c.bucket, func.sum(placed.c.human), func.count() - func.sum(placed.c.human)).group_by(placed.c.bucket)
    return [(int(bucket), int(human), int(machine)) for bucket, human, machine in session.execute(query)]


def engagement_timeline(session: Session, campaign_id: int, first_send: dt.datetime | None) -> list[TimelineBucket]:
    """The campaign's unique opens and clicks per bucket from ``first_send``; empty when nobody engaged.

    Without a first send (nothing was sent, yet engagements were recorded) the
    timeline starts at the first engagement.
    """
    if first_send is None:
        first_send = session.scalar(select(func.min(Engagement.occurred_at)).where(Engagement.campaign_id == campaign_id))
        if first_send is None:
            return []
    origin = timeline_origin(first_send)
    firsts = _firsts(campaign_id)
    found: dict[int, TimelineBucket] = {}

    def bucket(index: int) -> TimelineBucket:
        if index not in found:
            found[index] = TimelineBucket(*bucket_bounds(origin, index))
        return found[index]

    for index, human, machine in _counts(session, firsts, "open", origin):
        bucket(index).opened_human, bucket(index).opened_machine = human, machine
    for index, human, machine in _counts(session, firsts, "click", origin):
        bucket(index).clicked_human, bucket(index).clicked_machine = human, machine
    if not found:
        return []
    return [found.get(index) or TimelineBucket(*bucket_bounds(origin, index)) for index in range(max(found) + 1)]
