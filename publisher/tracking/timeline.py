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

One GROUP BY per campaign, streamed: one row per recipient seen at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from publisher.db.models import Engagement, EngagementKind

#: Hours of hourly buckets from the first send; after them the buckets are a day wide.
HOURLY_HOURS = 48
#: Days after the hourly buckets the timeline covers at most (a year: longer than readers come back).
TIMELINE_DAYS = 366
#: Rows fetched at a time while the recipients are counted.
CHUNK = 1000

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


def engagement_timeline(session: Session, campaign_id: int, first_send: dt.datetime | None) -> list[TimelineBucket]:
    """The campaign's unique opens and clicks per bucket from ``first_send``; empty when nobody engaged.

    Without a first send (nothing was sent, yet engagements were recorded) the
    timeline starts at the first engagement.
    """
    not_machine = Engagement.machine.is_(False)
    is_click = Engagement.kind == EngagementKind.CLICK
    query = (
        select(
            func.min(case((not_machine, Engagement.occurred_at))),
            func.min(Engagement.occurred_at),
            func.min(case((and_(is_click, not_machine), Engagement.occurred_at))),
            func.min(case((is_click, Engagement.occurred_at))),
        )
        .where(Engagement.campaign_id == campaign_id)
        .group_by(Engagement.delivery_id)
        .execution_options(yield_per=CHUNK)
    )
    if first_send is None:
        first_send = session.scalar(select(func.min(Engagement.occurred_at)).where(Engagement.campaign_id == campaign_id))
        if first_send is None:
            return []
    origin = timeline_origin(first_send)
    found: dict[int, TimelineBucket] = {}

    def bucket(moment: dt.datetime) -> TimelineBucket:
        index = bucket_index(origin, moment)
        if index not in found:
            found[index] = TimelineBucket(*bucket_bounds(origin, index))
        return found[index]

    for first_human_open, first_open, first_human_click, first_click in session.execute(query):
        if first_human_open is not None:
            bucket(first_human_open).opened_human += 1
        else:
            bucket(first_open).opened_machine += 1
        if first_human_click is not None:
            bucket(first_human_click).clicked_human += 1
        elif first_click is not None:
            bucket(first_click).clicked_machine += 1
    if not found:
        return []
    return [found.get(index) or TimelineBucket(*bucket_bounds(origin, index)) for index in range(max(found) + 1)]
