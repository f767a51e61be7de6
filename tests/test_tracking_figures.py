"""Engagement figures: one count per recipient, human if any of their opens or clicks was, whatever the source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from publisher.audience.subscribers import import_subscribers
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, EngagementKind
from publisher.tracking.figures import UniqueFigures, engaged_deliveries, unique_figures
from tests.support.campaigns import publish
from tests.support.engagements import PROXY, engage

PEOPLE = [f"p{n}@example.com" for n in range(6)]
AT = utcnow().replace(microsecond=0) - dt.timedelta(days=1)


def _seed(db: Database, settings: Settings, tmp_path: Path) -> tuple[int, dict[str, int]]:
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "\n".join(PEOPLE) + "\n", encoding="utf-8")
    import_subscribers(db, people, "attendees")
    campaign_id = publish(settings, db).id
    with db.reading() as session:
        ids = dict(session.execute(select(Delivery.email, Delivery.id).where(Delivery.campaign_id == campaign_id)).all())
    return campaign_id, ids


def test_each_recipient_counts_once_and_a_click_counts_as_an_open(db: Database, settings: Settings, tmp_path: Path) -> None:
    campaign_id, ids = _seed(db, settings, tmp_path)
    p0, p1, p2, p3, p4, _ = (ids[email] for email in PEOPLE)
    # p0: seen by our pixel and by the provider's, twice each: one human opener.
    for source in ("app", "app", "postmark", "postmark"):
        engage(db, campaign_id, p0, EngagementKind.OPEN, AT, source=source)
    # p1: a privacy proxy's open, then the reader's own: human.
    engage(db, campaign_id, p1, EngagementKind.OPEN, AT, machine=True, reason=PROXY)
    engage(db, campaign_id, p1, EngagementKind.OPEN, AT)
    # p2: only a proxy's open: machine.
    engage(db, campaign_id, p2, EngagementKind.OPEN, AT, machine=True, reason=PROXY)
    # p3: a human click with its pixel blocked: an opener and a clicker.
    engage(db, campaign_id, p3, EngagementKind.CLICK, AT)
    # p4: a scanner clicked: a machine opener and a machine clicker.
    engage(db, campaign_id, p4, EngagementKind.CLICK, AT, machine=True, reason=PROXY)

    with db.reading() as session:
        assert unique_figures(session, campaign_id) == UniqueFigures(opened_human=3, opened_machine=2, clicked_human=1, clicked_machine=1)
        assert sorted(session.scalars(engaged_deliveries(campaign_id))) == sorted([p0, p1, p3])
        assert sorted(session.scalars(engaged_deliveries(campaign_id, "clicks"))) == [p3]
        assert sorted(session.scalars(engaged_deliveries(campaign_id, human=False))) == sorted([p0, p1, p2, p3, p4])


def test_figures_are_per_campaign(db: Database, settings: Settings, tmp_path: Path) -> None:
    campaign_id, ids = _seed(db, settings, tmp_path)
    other = publish(settings, db).id
    engage(db, campaign_id, ids[PEOPLE[0]], EngagementKind.OPEN, AT)
    with db.reading() as session:
        assert unique_figures(session, other) == UniqueFigures(0, 0, 0, 0)
        assert unique_figures(session, campaign_id).opened_human == 1
