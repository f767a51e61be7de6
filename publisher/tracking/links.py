"""The links readers clicked: per URL, unique human clickers and the clickers seen only as machines.

A click's URL is the campaign's tracked link of its number when it has one,
else the URL recorded with it (the one the provider reported): the tracked
link wins, so a provider that spells a link differently (another case, a
trailing slash) does not split its row. A click with neither is left out. A
recipient counts once per URL: as a human clicker when any of their clicks on
it was a human's, else as a machine-only clicker (a link scanner that
followed every link). Links are ordered by human clickers, then machine-only
clickers, then URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, select
from sqlalchemy.orm import Session

from publisher.db.models import Engagement, EngagementKind

#: Links the text report and the console show.
SHOWN_LINKS = 10
#: Links the JSON and the API give at most (with the number of them all): a provider may report any URL.
JSON_LINKS = 100


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
    return func.coalesce(by_number, recorded)


def _clickers(campaign_id: int, tracked_links: list[str] | None) -> Subquery:
    """One row per URL and recipient: ``human`` is 1 when any of their clicks on it was a human's."""
    clicks = (
        select(_clicked_url(tracked_links).label("url"), Engagement.delivery_id, Engagement.machine)
        .where(Engagement.campaign_id == campaign_id, Engagement.kind == EngagementKind.CLICK)
        .subquery()
    )
    return (
        select(clicks.c.url, func.max(case((clicks.c.machine.is_(False), 1), else_=0)).label("human"))
        .where(clicks.c.url.is_not(None))
        .group_by(clicks.c.url, clicks.c.delivery_id)
        .subquery()
    )


def count_links(session: Session, campaign_id: int, tracked_links: list[str] | None) -> int:
    """How many distinct URLs of the campaign were clicked."""
    clickers = _clickers(campaign_id, tracked_links)
    return int(session.scalar(select(func.count(func.distinct(clickers.c.url)))) or 0)


def top_links(session: Session, campaign_id: int, tracked_links: list[str] | None, limit: int | None = None) -> list[LinkFigures]:
    """Every clicked URL of the campaign with its clickers, most human clickers first (the first ``limit``)."""
    clickers = _clickers(campaign_id, tracked_links)
    human = func.coalesce(func.sum(clickers.c.human), 0).label("human")
    machine = (func.count() - func.coalesce(func.sum(clickers.c.human), 0)).label("machine")
    query = (
        select(clickers.c.url, human, machine).group_by(clickers.c.url).order_by(human.desc(), machine.desc(), clickers.c.url).limit(limit)
    )
    return [LinkFigures(url, int(humans), int(machines)) for url, humans, machines in session.execute(query)]
