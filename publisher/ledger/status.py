"""Where campaigns stand: delivery counts by state, from the ledger, and the queue depth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.db.engine import Database
from publisher.db.models import OPEN_STATES, Campaign, CampaignRelease, CampaignStatus, Delivery, DeliveryState, MailingList, ReleaseState
from publisher.ledger.releases import NextRelease, next_releases
from publisher.ledger.subject_test_figures import SubjectTestProgress, progress_of

#: Seconds over which the sending rate is measured.
RATE_WINDOW = 60


class StateCounts:
    """Totals over ``counts``, records per delivery state with every state present."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def open(self) -> int:
        return sum(self.counts[state.value] for state in OPEN_STATES)


def counts_by_state(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    """Records per delivery state of each campaign in ``ids``, every state present (0 when none)."""
    counts = {cid: {state.value: 0 for state in DeliveryState} for cid in ids}
    if ids:
        rows = session.execute(
            select(Delivery.campaign_id, Delivery.state, func.count())
            .where(Delivery.campaign_id.in_(ids))
            .group_by(Delivery.campaign_id, Delivery.state)
        ).all()
        for cid, state, count in rows:
            counts[cid][DeliveryState(state).value] = count
    return counts


@dataclass(frozen=True)
class CampaignProgress(StateCounts):
    id: int
    title: str
    list_name: str | None
    status: str
    is_test: bool
    created_at: dt.datetime
    send_at: dt.datetime | None
    counts: dict[str, int]
    provider: str = ""
    pause_reason: str | None = None
    #: Records sent in the last minute, per second.
    rate: float = 0.0
    dead_letters: int = 0
    #: Who created it: "user:<email>", "token:<name>", "cli" (None: before this was recorded).
    created_by: str | None = None
    #: A draft the workers' sweep sends by itself once approved (an event's recap under the rule auto).
    auto_send_at: dt.datetime | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    #: When its next recipients go out, and how many: a local-time send's next time zone, a scheduled send's ``send_at``,
    #: or a sending subject test's decision (``NextRelease.decision``).
    next_release: NextRelease | None = None
    #: Open records of time zones not released yet (a local-time send): they wait for their zone, not for the workers.
    held: int = 0
    #: Its subject test: the test's share and the remainder apart, each variant's records sent, the winner once decided.
    subject_test: SubjectTestProgress | None = None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until the records the workers may send now are sent, at the last minute's rate."""
        ready = self.open - self.held
        return ready / self.rate if self.rate and ready > 0 else None

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
            "provider": self.provider,
            "pause_reason": self.pause_reason,
            "rate_per_second": round(self.rate, 2),
            "eta_seconds": round(self.eta_seconds) if self.eta_seconds else None,
            "dead_letters": self.dead_letters,
            "created_by": self.created_by,
            "auto_send_at": self.auto_send_at.isoformat() if self.auto_send_at else None,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat() if self.approved_at else None,
            "next_release_at": self.next_release.release_at.isoformat() if self.next_release else None,
            "next_release_recipients": self.next_release.recipients if self.next_release else None,
            "subject_test": self.subject_test.as_dict() if self.subject_test else None,
        }


def campaign_progress(
    db: Database,
    campaign_id: int | None = None,
    limit: int = 20,
    *,
    before: int | None = None,
    tests: bool = True,
    status: CampaignStatus | None = None,
    kept: dt.timedelta | None = None,
) -> list[CampaignProgress]:
    """Progress of one campaign, or of the most recent ``limit`` ones.

    Filtered in the query, before the limit: older than ``before``, test sends
    too unless ``tests`` is False, only those in ``status`` when it is given.
    ``kept`` (NEWSLETTER_TRACKING_DAYS) bounds an overdue subject test's latest decision.
    """
    with db.reading() as session:
        query = select(Campaign, MailingList.name).outerjoin(MailingList, MailingList.id == Campaign.list_id)
        if campaign_id is not None:
            query = query.where(Campaign.id == campaign_id)
        else:
            query = query.order_by(Campaign.id.desc()).limit(limit)
            if before is not None:
                query = query.where(Campaign.id < before)
            if not tests:
                query = query.where(Campaign.is_test.is_(False))
            if status is not None:
                query = query.where(Campaign.status == status)
        campaigns = session.execute(query).all()
        if campaign_id is not None and not campaigns:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        ids = [campaign.id for campaign, _ in campaigns]
        counts = counts_by_state(session, ids)
        upcoming = next_releases(session, [campaign for campaign, _ in campaigns], {cid: sum(c.values()) for cid, c in counts.items()})
        held = dict(
            session.execute(
                select(CampaignRelease.campaign_id, func.sum(CampaignRelease.recipients))
                .where(CampaignRelease.campaign_id.in_(ids), CampaignRelease.state == ReleaseState.PENDING)
                .group_by(CampaignRelease.campaign_id)
            ).all()
        )
        since = utcnow() - dt.timedelta(seconds=RATE_WINDOW)
        recent = dict(
            session.execute(
                select(Delivery.campaign_id, func.count())
                .where(Delivery.campaign_id.in_(ids), Delivery.sent_at >= since)
                .group_by(Delivery.campaign_id)
            ).all()
        )
        dead = dict(
            session.execute(
                select(Delivery.campaign_id, func.count())
                .where(Delivery.campaign_id.in_(ids), Delivery.dead_lettered_at.is_not(None))
                .group_by(Delivery.campaign_id)
            ).all()
        )
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
                provider=campaign.provider,
                pause_reason=campaign.pause_reason,
                rate=recent.get(campaign.id, 0) / RATE_WINDOW,
                dead_letters=dead.get(campaign.id, 0),
                created_by=campaign.created_by,
                auto_send_at=campaign.auto_send_at,
                approved_by=campaign.approved_by,
                approved_at=campaign.approved_at,
                next_release=upcoming.get(campaign.id),
                held=int(held.get(campaign.id) or 0),
                subject_test=progress_of(session, campaign, kept) if campaign.subject_variants else None,
            )
            for campaign, list_name in campaigns
        ]


def in_doubt(db: Database, campaign_id: int, limit: int = 20) -> list[str]:
    """Addresses of the campaign's in-doubt records (the first ``limit``)."""
    with db.reading() as session:
        return list(
            session.scalars(
                select(Delivery.email)
                .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.IN_DOUBT)
                .order_by(Delivery.id)
                .limit(limit)
            )
        )
