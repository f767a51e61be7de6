"""Everything a report shows of a campaign's opens and clicks: the unique figures, the top links and the timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.db.models import Campaign, Delivery
from publisher.tracking.figures import UniqueFigures, unique_figures
from publisher.tracking.links import SHOWN_LINKS, LinkFigures, top_links
from publisher.tracking.timeline import TimelineBucket, engagement_timeline


@dataclass(frozen=True)
class EngagementSummary:
    #: Whether the campaign's emails carried the open pixel and tracked links; without them
    #: the figures come from the provider's own tracking alone, when it has any.
    tracking: bool
    figures: UniqueFigures
    #: Every clicked URL, most human clickers first.
    links: list[LinkFigures]
    timeline: list[TimelineBucket]

    @property
    def top_links(self) -> list[LinkFigures]:
        """The links a page or a terminal shows."""
        return self.links[:SHOWN_LINKS]

    @property
    def seen(self) -> bool:
        """Whether any open or click was recorded at all."""
        return any((self.figures.opened_human, self.figures.opened_machine))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracking": self.tracking,
            "top_links": [link.as_dict() for link in self.links],
            "timeline": [bucket.as_dict() for bucket in self.timeline],
        }


def first_send(session: Session, campaign_id: int) -> dt.datetime | None:
    """When the campaign's first email was accepted by a provider."""
    return session.scalar(select(func.min(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id))


def engagement_summary(session: Session, campaign: Campaign) -> EngagementSummary:
    return EngagementSummary(
        tracking=campaign.tracking,
        figures=unique_figures(session, campaign.id),
        links=top_links(session, campaign.id, campaign.tracked_links),
        timeline=engagement_timeline(session, campaign.id, first_send(session, campaign.id)),
    )
