"""What became of one campaign: the ledger's states and the providers' events, with rates.

Every figure counts recipients (ledger records), not events: a message
opened five times counts once for ``opened``; ``opens`` and ``clicks`` give
the event totals as well. ``bounced`` is every record with a bounce, split
into ``bounced_hard`` and ``bounced_soft`` (soft bounces only, never hard),
so the two add up to it.

``unsubscribed`` counts a record when the provider reported an unsubscribe
for it, or when the recipient left the campaign's list after this message
was sent to them and before any later issue of that list was: a departure
is credited to the last issue the person received, not to every earlier one.

``opened`` and ``clicked`` (and ``opens``, ``clicks``) count the providers'
webhook events alone, as they come, unclassified. ``opened_human``,
``opened_machine``, ``clicked_human`` and ``clicked_machine`` count the
recipients seen in the engagements ledger (``publisher.tracking``): the open
pixel and tracked links, merged with the providers' open and click events
(recorded there as well for a tracked campaign), each recipient once, human
if any of their opens or clicks was a human's. The two families overlap;
they are never added together. For a campaign that is not tracked nothing
is recorded in the engagements ledger, so the four are None (unknown, not
zero), and so are their rates: the providers' ``opened`` and ``clicked`` are
all there is.

Rates of delivery, bounces, complaints, unsubscribes, opens and clicks
(human and machine alike) are shares of ``sent``; the failure rate is a
share of all recipients. A rate whose base is zero is None.

Each figure is one GROUP BY or one counting query: nothing loads the
campaign's records. The timeline is counted by the database as well: one
row per time bucket comes back, not one per recipient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from publisher.core.errors import NotFoundError
from publisher.db.engine import Database
from publisher.db.models import (
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    EventType,
    MailingList,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger.subject_test_figures import NO_TEST, SubjectTestReport, report_of
from publisher.tracking.summary import EngagementSummary, engagement_summary

#: Figures given as a share of ``sent``.
SHARE_OF_SENT = (
    "delivered",
    "bounced",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "opened_human",
    "opened_machine",
    "clicked_human",
    "clicked_machine",
)
#: Figures given as a share of all recipients.
SHARE_OF_RECIPIENTS = ("failed",)


@dataclass(frozen=True)
class CampaignReport:
    id: int
    title: str
    list_name: str | None
    status: str
    is_test: bool
    released_at: dt.datetime | None
    #: Ledger records by state (every state present, zeros included).
    states: dict[str, int]
    #: Records with at least one event of each type (every type present).
    events: dict[str, int]
    #: Events of each type, repeats included.
    event_totals: dict[str, int]
    bounced: int
    unsubscribed: int
    #: Unique human and machine opens and clicks, top links and the timeline.
    engagement: EngagementSummary
    #: Its subject test's figures and decision (``publisher.ledger.subject_test_figures``); None without one.
    subject_test: SubjectTestReport | None = None
    #: The campaign this one resent to its non-openers.
    resend_of: int | None = None
    #: The campaign that resent this one to its non-openers.
    resent_as: int | None = None

    @property
    def recipients(self) -> int:
        return sum(self.states.values())

    @property
    def figures(self) -> dict[str, int | None]:
        """The headline figures, in the order they are shown; the human and machine ones are None when not tracked."""
        unique = self.engagement.figures
        return {
            "recipients": self.recipients,
            "sent": self.states[DeliveryState.SENT.value],
            "delivered": self.events[EventType.DELIVERED.value],
            "bounced": self.bounced,
            "bounced_hard": self.events[EventType.BOUNCED_HARD.value],
            "bounced_soft": self.bounced - self.events[EventType.BOUNCED_HARD.value],
            "complained": self.events[EventType.COMPLAINED.value],
            "unsubscribed": self.unsubscribed,
            "opened": self.events[EventType.OPENED.value],
            "opens": self.event_totals[EventType.OPENED.value],
            "clicked": self.events[EventType.CLICKED.value],
            "clicks": self.event_totals[EventType.CLICKED.value],
            "opened_human": unique.opened_human if unique else None,
            "opened_machine": unique.opened_machine if unique else None,
            "clicked_human": unique.clicked_human if unique else None,
            "clicked_machine": unique.clicked_machine if unique else None,
            "deferred": self.events[EventType.DEFERRED.value],
            "failed": self.states[DeliveryState.FAILED.value],
            "in_doubt": self.states[DeliveryState.IN_DOUBT.value],
            "suppressed": self.states[DeliveryState.SUPPRESSED.value],
            "cancelled": self.states[DeliveryState.CANCELLED.value],
            "pending": self.states[DeliveryState.PENDING.value] + self.states[DeliveryState.SENDING.value],
        }

    @property
    def rates(self) -> dict[str, float | None]:
        figures = self.figures
        rates = {name: _share(figures[name], figures["sent"]) for name in SHARE_OF_SENT}
        rates.update({name: _share(figures[name], figures["recipients"]) for name in SHARE_OF_RECIPIENTS})
        return rates

    def as_dict(self) -> dict[str, object]:
        return {
            "campaign": {
                "id": self.id,
                "title": self.title,
                "list": self.list_name,
                "status": self.status,
                "test": self.is_test,
                "released_at": self.released_at.isoformat() if self.released_at else None,
                "resend_of": self.resend_of,
                "resent_as": self.resent_as,
            },
            **self.figures,
            "rates": {name: round(rate, 4) if rate is not None else None for name, rate in self.rates.items()},
            "ledger": self.states,
            **self.engagement.as_dict(),
            **(self.subject_test.as_dict() if self.subject_test else NO_TEST),
        }


def _share(count: int | None, base: int | None) -> float | None:
    return count / base if count is not None and base else None


def campaign_report(db: Database, campaign_id: int, engagement: EngagementSummary | None = None) -> CampaignReport:
    """Report on one campaign; NotFoundError when there is none with that id.

    ``engagement``, when given, is a summary of its opens and clicks computed
    a moment ago, used as it is (the costliest part of the report).
    """
    with db.reading() as session:
        row = session.execute(
            select(Campaign, MailingList.name).outerjoin(MailingList, MailingList.id == Campaign.list_id).where(Campaign.id == campaign_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        campaign, list_name = row
        events, totals = _event_counts(session, campaign_id)
        return CampaignReport(
            id=campaign.id,
            title=campaign.title,
            list_name=list_name,
            status=campaign.status.value,
            is_test=campaign.is_test,
            released_at=campaign.released_at,
            states=_state_counts(session, campaign_id),
            events=events,
            event_totals=totals,
            bounced=_bounced(session, campaign_id),
            unsubscribed=_unsubscribed(session, campaign),
            engagement=engagement or engagement_summary(session, campaign),
            subject_test=report_of(session, campaign),
            resend_of=campaign.resend_of,
            resent_as=session.scalar(select(Campaign.id).where(Campaign.resend_of == campaign.id)),
        )


def _state_counts(session: Session, campaign_id: int) -> dict[str, int]:
    counts = {state.value: 0 for state in DeliveryState}
    query = select(Delivery.state, func.count()).where(Delivery.campaign_id == campaign_id).group_by(Delivery.state)
    for state, count in session.execute(query):
        counts[DeliveryState(state).value] = count
    return counts


def _campaign_events(*columns: Any) -> Select[Any]:
    """Select ``columns`` over the campaign's events (joined to their records for the campaign id)."""
    return select(*columns).select_from(DeliveryEvent).join(Delivery, Delivery.id == DeliveryEvent.delivery_id)


def _event_counts(session: Session, campaign_id: int) -> tuple[dict[str, int], dict[str, int]]:
    unique = {kind.value: 0 for kind in EventType}
    totals = dict(unique)
    query = (
        _campaign_events(DeliveryEvent.type, func.count(func.distinct(DeliveryEvent.delivery_id)), func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(DeliveryEvent.type)
    )
    for kind, records, events in session.execute(query):
        unique[EventType(kind).value] = records
        totals[EventType(kind).value] = events
    return unique, totals


def _bounced(session: Session, campaign_id: int) -> int:
    query = _campaign_events(func.count(func.distinct(DeliveryEvent.delivery_id))).where(
        Delivery.campaign_id == campaign_id, DeliveryEvent.type.in_([EventType.BOUNCED_HARD, EventType.BOUNCED_SOFT])
    )
    return int(session.scalar(query) or 0)


def _unsubscribed(session: Session, campaign: Campaign) -> int:
    reported = (
        select(DeliveryEvent.id).where(DeliveryEvent.delivery_id == Delivery.id, DeliveryEvent.type == EventType.UNSUBSCRIBED).exists()
    )
    condition: ColumnElement[bool] = reported
    if campaign.list_id is not None:
        condition = or_(reported, and_(Delivery.state == DeliveryState.SENT, _left_after(campaign.list_id)))
    query = select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id, condition)
    return int(session.scalar(query) or 0)


def _left_after(list_id: int) -> ColumnElement[bool]:
    """The recipient left the list after this record was sent, with no later issue of the list sent to them in between."""
    later = aliased(Delivery)
    later_issue = (
        select(later.id)
        .join(Campaign, Campaign.id == later.campaign_id)
        .where(
            Campaign.list_id == list_id,
            Campaign.kind == CampaignKind.ISSUE,
            # (campaign_id, email) is the ledger's unique index: one lookup per issue of the list.
            later.email == Delivery.email,
            later.state == DeliveryState.SENT,
            later.sent_at > Delivery.sent_at,
            later.sent_at <= Subscription.unsubscribed_at,
        )
        # Two levels down from the record it is about: auto-correlation stops at one.
        .correlate(Delivery, Subscription)
        .exists()
    )
    return (
        select(Subscription.id)
        .where(
            Subscription.list_id == list_id,
            Subscription.subscriber_id == Delivery.subscriber_id,
            Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
            Subscription.unsubscribed_at >= Delivery.sent_at,
            ~later_issue,
        )
        .exists()
    )
