"""The campaign events of the outgoing webhooks, written in the transaction that changes the campaign.

``campaign.sending`` is announced once, when a campaign starts sending (sent
at once, released when its ``send_at`` came, or resumed after its ``send_at``
passed while it was paused), with its audience frozen; resuming a campaign
that had started sending, or reopening a complete one, announces nothing.
``campaign.completed`` is announced when it completes. Test sends,
confirmation emails and notices to console users announce nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.db.models import Campaign, CampaignKind, Delivery, DeliveryState, MailingList
from publisher.outgoing_webhooks.announce import announce, iso, wants
from publisher.outgoing_webhooks.events import CAMPAIGN_COMPLETED, CAMPAIGN_SENDING


def campaign_sending(session: Session, campaign_id: int, now: dt.datetime | None = None) -> None:
    if not wants(session, CAMPAIGN_SENDING):
        return
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not _announced(campaign):
        return
    recipients = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)) or 0
    announce(session, CAMPAIGN_SENDING, {"campaign": _campaign(session, campaign), "recipients": int(recipients)}, now)


def campaign_completed(session: Session, campaign_id: int, now: dt.datetime | None = None) -> None:
    if not wants(session, CAMPAIGN_COMPLETED):
        return  # no endpoint asked: the campaign's records are not grouped under its lock for nothing
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not _announced(campaign):
        return
    counted = dict(
        session.execute(select(Delivery.state, func.count()).where(Delivery.campaign_id == campaign_id).group_by(Delivery.state)).all()
    )
    counts = {state.value: int(counted.get(state, 0)) for state in DeliveryState}
    data = {"campaign": _campaign(session, campaign), "completed_at": iso(now or campaign.completed_at), "counts": counts}
    announce(session, CAMPAIGN_COMPLETED, data, now)


def _announced(campaign: Campaign) -> bool:
    return campaign.kind == CampaignKind.ISSUE and not campaign.is_test


def _campaign(session: Session, campaign: Campaign) -> dict[str, Any]:
    list_name = session.scalar(select(MailingList.name).where(MailingList.id == campaign.list_id)) if campaign.list_id else None
    return {
        "id": campaign.id,
        "title": campaign.title,
        "subject": campaign.subject,
        "list": list_name,
        "provider": campaign.provider,
        "send_at": iso(campaign.send_at),
    }
