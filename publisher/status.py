"""Where campaigns stand: delivery counts by state, from the ledger, and the queue depth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis
from sqlalchemy import func, select

from publisher.db.engine import Database
from publisher.db.models import OPEN_STATES, Campaign, Delivery, DeliveryState, MailingList
from publisher.errors import NotFoundError


@dataclass(frozen=True)
class CampaignProgress:
    id: int
    title: str
    list_name: str | None
    status: str
    is_test: bool
    created_at: dt.datetime
    send_at: dt.datetime | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def open(self) -> int:
        return sum(self.counts[state.value] for state in OPEN_STATES)

    @property
    def finished(self) -> bool:
        """Finished when no record is pending or sending (also when some failed)."""
        return self.open == 0 and self.status != "scheduled"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "list": self.list_name,
            "status": self.status,
            "test": self.is_test,
            "created_at": self.created_at.isoformat(),
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "total": self.total,
            "finished": self.finished,
            "deliveries": self.counts,
        }


def campaign_progress(db: Database, campaign_id: int | None = None, limit: int = 20) -> list[CampaignProgress]:
    """Progress of one campaign, or of the most recent ``limit`` ones."""
    with db.transaction() as session:
        query = select(Campaign, MailingList.name).outerjoin(MailingList, MailingList.id == Campaign.list_id)
        query = query.where(Campaign.id == campaign_id) if campaign_id is not None else query.order_by(Campaign.id.desc()).limit(limit)
        campaigns = session.execute(query).all()
        if campaign_id is not None and not campaigns:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        ids = [campaign.id for campaign, _ in campaigns]
        counts: dict[int, dict[str, int]] = {cid: {state.value: 0 for state in DeliveryState} for cid in ids}
        rows = session.execute(
            select(Delivery.campaign_id, Delivery.state, func.count())
            .where(Delivery.campaign_id.in_(ids))
            .group_by(Delivery.campaign_id, Delivery.state)
        ).all()
        for cid, state, count in rows:
            counts[cid][DeliveryState(state).value] = count
        return [
            CampaignProgress(
                id=campaign.id,
                title=campaign.title,
                list_name=list_name,
                status=campaign.status.value,
                is_test=campaign.is_test,
                created_at=campaign.created_at,
                send_at=campaign.send_at,
                counts=counts[campaign.id],
            )
            for campaign, list_name in campaigns
        ]


def queue_depth(client: redis.Redis, queues: tuple[str, ...]) -> dict[str, int]:
    """Messages waiting in each queue, plus those taken by workers and not yet acknowledged."""
    depth: dict[str, int] = {}
    for queue in queues:
        # kombu keeps one Redis list per priority step: "name", "name\x06\x163", …
        keys = [queue, *(f"{queue}\x06\x16{step}" for step in range(1, 10))]
        depth[queue] = sum(int(client.llen(key)) for key in keys)
    depth["unacked"] = int(client.hlen("unacked"))
    return depth
