"""Top links and opens and clicks over time: each recipient once, human before machine, in the documented buckets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import EngagementKind
from publisher.tracking.figures import UniqueFigures, unique_figures
from publisher.tracking.links import LinkFigures, top_links
from publisher.tracking.timeline import (
    HOURLY_HOURS,
    TIMELINE_DAYS,
    TimelineBucket,
    bucket_bounds,
    bucket_index,
    engagement_timeline,
    timeline_origin,
)
from tests.support.engagements import FIRST, LINKS, PEOPLE, after, engage, seed_engagements, sent_campaign

ORIGIN = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


def test_buckets_are_hourly_from_the_first_sends_hour_for_48_hours_then_daily() -> None:
    assert timeline_origin(FIRST) == ORIGIN
    assert bucket_index(ORIGIN, ORIGIN) == 0
    assert bucket_index(ORIGIN, FIRST + dt.timedelta(minutes=36, seconds=49)) == 0  # 14:59:59
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(hours=1)) == 1
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(hours=47, minutes=59)) == HOURLY_HOURS - 1
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(hours=48)) == HOURLY_HOURS
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(hours=71, minutes=59)) == HOURLY_HOURS
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(hours=72)) == HOURLY_HOURS + 1
    assert bucket_bounds(ORIGIN, 3) == (ORIGIN + dt.timedelta(hours=3), ORIGIN + dt.timedelta(hours=4))
    assert bucket_bounds(ORIGIN, HOURLY_HOURS + 1) == (ORIGIN + dt.timedelta(days=3), ORIGIN + dt.timedelta(days=4))


def test_times_outside_the_timeline_count_in_its_first_or_last_bucket() -> None:
    last = HOURLY_HOURS + TIMELINE_DAYS - 1
    assert bucket_index(ORIGIN, ORIGIN - dt.timedelta(days=3)) == 0
    assert bucket_index(ORIGIN, ORIGIN + dt.timedelta(days=5000)) == last
    assert bucket_bounds(ORIGIN, last)[1] == ORIGIN + dt.timedelta(days=2 + TIMELINE_DAYS)


def test_top_links_count_each_clicker_once_per_url_ordered_by_human_clickers(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    with db.reading() as session:
        links = top_links(session, seeded.campaign_id, LINKS)
        # p0's click carried only its link number: it is link a's.
        assert links == [LinkFigures(LINKS[1], 2, 1), LinkFigures(LINKS[0], 1, 1), LinkFigures(LINKS[2], 0, 1)]
        assert top_links(session, seeded.campaign_id, LINKS, limit=2) == links[:2]
        # Without the campaign's links a click known only by its number has no URL to show.
        unnumbered = [LinkFigures(LINKS[1], 2, 1), LinkFigures(LINKS[0], 0, 1), LinkFigures(LINKS[2], 0, 1)]
        assert top_links(session, seeded.campaign_id, None) == unnumbered


def test_the_timeline_places_each_recipient_at_their_first_human_engagement(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    with db.reading() as session:
        timeline = engagement_timeline(session, seeded.campaign_id, FIRST)
        figures = unique_figures(session, seeded.campaign_id)
    assert figures == UniqueFigures(opened_human=3, opened_machine=2, clicked_human=3, clicked_machine=1)
    # Runs to the day bucket of p4's click, empty hours included.
    assert len(timeline) == HOURLY_HOURS + 1
    assert timeline[0] == TimelineBucket(ORIGIN, ORIGIN + dt.timedelta(hours=1), 1, 2, 1, 1)
    # p0 was first seen by a proxy at 14:23: as a reader they count when they opened, at 17:33.
    assert timeline[3] == TimelineBucket(ORIGIN + dt.timedelta(hours=3), ORIGIN + dt.timedelta(hours=4), 1, 0, 1, 0)
    assert timeline[HOURLY_HOURS] == TimelineBucket(ORIGIN + dt.timedelta(days=2), ORIGIN + dt.timedelta(days=3), 1, 0, 1, 0)
    assert not timeline[HOURLY_HOURS].hourly and timeline[0].hourly
    assert all((b.opened_human, b.opened_machine, b.clicked_human, b.clicked_machine) == (0, 0, 0, 0) for b in timeline[4:HOURLY_HOURS])
    for name in ("opened_human", "opened_machine", "clicked_human", "clicked_machine"):
        assert sum(getattr(bucket, name) for bucket in timeline) == getattr(figures, name), name


def test_a_campaign_nobody_engaged_with_has_an_empty_timeline_and_no_links(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    with db.reading() as session:
        assert engagement_timeline(session, seeded.campaign_id, FIRST) == []
        assert engagement_timeline(session, seeded.campaign_id, None) == []
        assert top_links(session, seeded.campaign_id, LINKS) == []


def test_without_a_send_the_timeline_starts_at_the_first_engagement(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.OPEN, after(hours=5, minutes=40))
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[1]], EngagementKind.OPEN, after(hours=7, minutes=40))
    with db.reading() as session:
        timeline = engagement_timeline(session, seeded.campaign_id, None)
    # 20:03 and 22:03: from the hour of the first.
    assert [(bucket.start, bucket.opened_human) for bucket in timeline] == [
        (ORIGIN + dt.timedelta(hours=6), 1),
        (ORIGIN + dt.timedelta(hours=7), 0),
        (ORIGIN + dt.timedelta(hours=8), 1),
    ]


def test_an_engagement_stamped_far_in_the_future_ends_the_timeline_at_its_last_day(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.OPEN, dt.datetime(2199, 1, 1, tzinfo=dt.UTC))
    with db.reading() as session:
        timeline = engagement_timeline(session, seeded.campaign_id, FIRST)
    assert len(timeline) == HOURLY_HOURS + TIMELINE_DAYS
    assert timeline[-1].opened_human == 1 and sum(bucket.opened_human for bucket in timeline) == 1


def test_a_click_with_an_empty_url_counts_for_its_link_number_or_not_at_all(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.CLICK, FIRST, url="", link_index=2)
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[1]], EngagementKind.CLICK, FIRST, url="", source="mailgun")
    with db.reading() as session:
        assert top_links(session, seeded.campaign_id, LINKS) == [LinkFigures(LINKS[2], 1, 0)]
        assert unique_figures(session, seeded.campaign_id).clicked_human == 2


def test_the_database_puts_each_time_in_the_bucket_the_documented_rule_gives_edges_included(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    tick = dt.timedelta(microseconds=1)
    moments = [
        ORIGIN - dt.timedelta(minutes=1),  # before the first bucket: in it
        ORIGIN + dt.timedelta(hours=1) - tick,
        ORIGIN + dt.timedelta(hours=1),
        ORIGIN + dt.timedelta(hours=HOURLY_HOURS) - tick,
        ORIGIN + dt.timedelta(hours=HOURLY_HOURS),
        ORIGIN + dt.timedelta(hours=HOURLY_HOURS, days=2, seconds=0.5),
    ]
    for person, moment in zip(PEOPLE, moments, strict=True):
        engage(db, seeded.campaign_id, seeded.ids[person], EngagementKind.CLICK, moment)
    with db.reading() as session:
        timeline = engagement_timeline(session, seeded.campaign_id, FIRST)
    found = [index for index, bucket in enumerate(timeline) for _ in range(bucket.clicked_human)]
    assert found == [0, 0, 1, HOURLY_HOURS - 1, HOURLY_HOURS, HOURLY_HOURS + 2]
    assert found == sorted(bucket_index(ORIGIN, moment) for moment in moments)
    assert [index for index, bucket in enumerate(timeline) for _ in range(bucket.opened_human)] == found
