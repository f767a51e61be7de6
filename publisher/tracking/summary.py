"""Everything a report shows of a campaign's opens and clicks: the unique figures, the top links and the timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.db.models import Campaign, Delivery
from publisher.tracking.figures import UniqueFigures, unique_figures
from publisher.tracking.links import JSON_LINKS, SHOWN_LINKS, LinkFigures, count_links, top_links
from publisher.tracking.timeline import TimelineBucket, engagement_timeline


@dataclass(frozen=True)
class EngagementSummary:
    #: Whether the campaign's emails carried the open pixel and tracked links. Without them no
    #: engagement is recorded (not even the provider's opens and clicks), so who opened is unknown.
    tracking: bool
    #: None when the campaign is not tracked: unknown, not zero.
    figures: UniqueFigures | None
    #: The clicked URLs, most human clickers first: the first ``JSON_LINKS`` of them.
    links: list[LinkFigures]
    #: How many URLs were clicked in all.
    links_total: int
    timeline: list[TimelineBucket]

    @property
    def top_links(self) -> list[LinkFigures]:
        """The links a page or a terminal shows."""
        return self.links[:SHOWN_LINKS]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracking": self.tracking,
            "top_links": [link.as_dict() for link in self.links],
            "links_total": self.links_total,
            "timeline": [bucket.as_dict() for bucket in self.timeline],
        }


def first_send(session: Session, campaign_id: int) -> dt.datetime | None:
    """When the campaign's first email was accepted by a provider."""
    return session.scalar(select(func.min(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id))


def engagement_summary(session: Session, campaign: Campaign) -> EngagementSummary:
    """The campaign's figures, links and timeline; for an untracked campaign the figures are unknown and nothing is read."""
    if not campaign.tracking:
        # Nothing records an engagement of an untracked campaign (publisher.feedback.recording).
        return EngagementSummary(tracking=False, figures=None, links=[], links_total=0, timeline=[])
    return EngagementSummary(
        tracking=True,
        figures=unique_figures(session, campaign.id),
        links=top_links(session, campaign.id, campaign.tracked_links, limit=JSON_LINKS),
        links_total=count_links(session, campaign.id, campaign.tracked_links),
        timeline=engagement_timeline(session, campaign.id, first_send(session, campaign.id)),
    )
