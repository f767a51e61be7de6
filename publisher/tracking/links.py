"""The links readers clicked: per URL, unique human clickers and the clickers seen only as machines.

A click's URL is the one recorded with it (the tracked link's, or the one the
provider reported), else the campaign's tracked link of its number; a click
with neither is left out. A
recipient counts once per URL: as a human clicker when any of their clicks on
it was a human's, else as a machine-only clicker (a link scanner that
followed every link). Links are ordered by human clickers, then machine-only
clickers, then URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from publisher.db.models import Engagement, EngagementKind

#: Links the text report and the console show; the JSON has them all.
SHOWN_LINKS = 10


@dataclass(frozen=True)
class LinkFigures:
    url: str
    clicked_human: int
    clicked_machine: int

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "clicked_human": self.clicked_human, "clicked_machine": self.clicked_machine}


def _clicked_url(tracked_links: list[str] | None) -> ColumnElement[str | None]:
    # A provider may report an empty URL: that is no URL.
    recorded = func.nullif(Engagement.url, "")
    if not tracked_links:
        return recorded
    by_number = case(dict(enumerate(tracked_links)), value=Engagement.link_index)
    return func.coalesce(recorded, by_number)


def top_links(session: Session, campaign_id: int, tracked_links: list[str] | None, limit: int | None = None) -> list[LinkFigures]:
    """Every clicked URL of the campaign with its clickers, most human clickers first (the first ``limit``)."""
    clicks = (
        select(_clicked_url(tracked_links).label("url"), Engagement.delivery_id, Engagement.machine)
        .where(Engagement.campaign_id == campaign_id, Engagement.kind == EngagementKind.CLICK)
        .subquery()
    )
    # One row per URL and recipient: 1 when any of their clicks on it was a human's.
    clickers = (
        select(clicks.c.url, func.max(case((clicks.c.machine.is_(False), 1), else_=0)).label("human"))
        .where(clicks.c.url.is_not(None))
        .group_by(clicks.c.url, clicks.c.delivery_id)
        .subquery()
    )
    human = func.coalesce(func.sum(clickers.c.human), 0).label("human")
    machine = (func.count() - func.coalesce(func.sum(clickers.c.human), 0)).label("machine")
    query = (
        select(clickers.c.url, human, machine).group_by(clickers.c.url).order_by(human.desc(), machine.desc(), clickers.c.url).limit(limit)
    )
    return [LinkFigures(url, int(humans), int(machines)) for url, humans, machines in session.execute(query)]
