"""Resending an issue to the recipients who did not open it: a new campaign of the same issue, once per campaign.

The audience is everyone the issue was sent to (ledger record ``sent``) with
no human open or click (``publisher.tracking.figures``: a privacy proxy's
or a link scanner's fetch is no reader), who has not since left the list, been
suppressed (on the list or everywhere) or been erased. The resend is a
campaign of its own, linked to the first by ``resend_of``, so its report has
its own figures; it reuses the first's stage-1 render, only its subject may
change.

Refused, with the reason and nothing written:

- a campaign sent without tracking: it cannot tell who opened it, so everyone
  would count as a non-opener;
- a campaign released longer ago than NEWSLETTER_TRACKING_DAYS: the sweep may
  have deleted its opens, so its readers would count as non-openers too;
- a second resend of the same campaign, or a resend of a resend: a recipient
  gets at most one resend per campaign (``campaigns.resend_of`` is unique);
- anything but a complete issue (a test send, a confirmation, a draft, a
  campaign still going out or cancelled);
- a resend with nobody to go to.

The first campaign's row lock serialises two resends of it: the second waits,
then finds the first's resend. A resend's audience is frozen when it is
written; when each batch is claimed, the records of anyone who opened or
clicked the first campaign since are set aside (``publisher.ledger.claims``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.audience.suppressions import suppressed_addresses
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.settings import Settings
from publisher.core.text_rules import refuse_control_characters
from publisher.db.engine import Database
from publisher.db.models import (
    MAX_ID,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryState,
    MailingList,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger.announcements import campaign_sending
from publisher.ledger.campaigns import CreatedCampaign, message_domain, write_batches
from publisher.ledger.states import initial_status
from publisher.tracking.figures import engaged

#: The only audience a resend has (``--to non-openers``).
NON_OPENERS = "non-openers"
#: The subject column's size.
SUBJECT_LIMIT = 500


class ResendRefused(NewsletterError):
    """The campaign cannot be resent (again): a conflict with its state, not bad input. Nothing was written."""


class InvalidResend(NewsletterError):
    """A value of the resend order is unusable; nothing was written."""


@dataclass(frozen=True)
class ResendOrder:
    campaign_id: int
    #: Replaces the first campaign's subject; None keeps it.
    subject: str | None = None
    send_at: dt.datetime | None = None
    #: Recipients per batch; ``publisher.sending`` sets the provider's.
    batch_size: int | None = None


def check_subject(subject: str) -> str:
    """The subject as stored (surrounding spaces removed); InvalidResend saying what is wrong with it."""
    text = subject.strip()
    if not text:
        raise InvalidResend("subject: is empty")
    if len(text) > SUBJECT_LIMIT:
        raise InvalidResend(f"subject: is {len(text)} characters long; at most {SUBJECT_LIMIT} fit")
    try:
        refuse_control_characters(text)
    except ValueError as exc:
        raise InvalidResend(f"subject: {exc}") from None
    return text


def resent_as(session: Session, campaign_id: int) -> int | None:
    """The id of the campaign's resend, when it has one."""
    return session.scalar(select(Campaign.id).where(Campaign.resend_of == campaign_id))


def refusal(session: Session, campaign: Campaign, tracking_days: int) -> str | None:
    """Why ``campaign`` cannot be resent to its non-openers now; None when it can.

    ``tracking_days`` is NEWSLETTER_TRACKING_DAYS: how long its opens are kept.
    """
    if campaign.kind is not CampaignKind.ISSUE:
        return f"campaign {campaign.id} is a {campaign.kind.value} email, not an issue: only an issue can be resent"
    if campaign.resend_of is not None:
        return f"campaign {campaign.id} is itself the resend of campaign {campaign.resend_of}: a recipient gets at most one resend"
    if (resend := resent_as(session, campaign.id)) is not None:
        return f"campaign {campaign.id} was resent already, as campaign {resend}: a recipient gets at most one resend per campaign"
    if campaign.status is not CampaignStatus.COMPLETE:
        return f"campaign {campaign.id} is {campaign.status.value}: only a complete campaign can be resent"
    if not campaign.tracking:
        return f"campaign {campaign.id} was sent without tracking: it cannot tell who opened it, so everyone would count as a non-opener"
    released = campaign.released_at or campaign.created_at
    if released is not None and _aware(released) < utcnow() - dt.timedelta(days=tracking_days):
        return (
            f"campaign {campaign.id} was released more than {tracking_days} days ago (NEWSLETTER_TRACKING_DAYS): "
            "its opens may have been deleted since, so its readers would count as non-openers"
        )
    return None


def non_openers(campaign: Campaign) -> Select[int | None, str]:
    """The resend's audience in subscriber order: sent to, no human open or click, still on the list and not suppressed."""
    left = (
        select(Subscription.id)
        .where(
            Subscription.list_id == campaign.list_id,
            Subscription.subscriber_id == Delivery.subscriber_id,
            Subscription.status != SubscriptionStatus.CONFIRMED,
        )
        .exists()
    )
    return (
        select(Delivery.subscriber_id, Delivery.email)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.state == DeliveryState.SENT,
            # Erasing a person clears the record's subscriber: they are never mailed again.
            Delivery.subscriber_id.is_not(None),
            # Correlated: one lookup of the record's engagements (indexed), an anti-join at any size.
            ~exists().where(engaged(Delivery.id)),
            ~left,
            Delivery.email.not_in(suppressed_addresses(campaign.list_id)),
        )
        .order_by(Delivery.subscriber_id)
    )


@dataclass(frozen=True)
class ResendState:
    """What a campaign's page says about resending it."""

    resend_of: int | None
    resent_as: int | None
    #: Why it cannot be resent now; None when it can.
    refusal: str | None


def resend_state(db: Database, campaign_id: int, tracking_days: int) -> ResendState:
    """Whether the campaign can be resent to its non-openers, and its resend or first campaign."""
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        return ResendState(campaign.resend_of, resent_as(session, campaign_id), refusal(session, campaign, tracking_days))


def resend_to_non_openers(settings: Settings, db: Database, order: ResendOrder, actor: Actor) -> CreatedCampaign:
    """Write the resend of ``order.campaign_id`` to its non-openers, scheduled or going out; the caller enqueues its batches."""
    if order.batch_size is None:
        raise ValueError("a resend order needs its batch size: publisher.sending sets the provider's")
    subject = check_subject(order.subject) if order.subject is not None else None
    with db.transaction() as session:
        original = session.get(Campaign, order.campaign_id, with_for_update=True) if 0 < order.campaign_id <= MAX_ID else None
        if original is None or original.is_test:
            raise NotFoundError(f"no campaign with id {order.campaign_id}")
        if (problem := refusal(session, original, settings.tracking_days)) is not None:
            raise ResendRefused(problem)
        scheduled = order.send_at is not None and order.send_at > utcnow()
        mailing_list = session.get(MailingList, original.list_id) if original.list_id is not None else None
        # Tracked as the first was, unless tracking was switched off since (everywhere or for the list).
        tracking = original.tracking and settings.tracking and (mailing_list is None or mailing_list.tracking)
        campaign = _copy(original, subject, order.send_at, scheduled, tracking=tracking)
        campaign.created_by = actor.label[:400]
        session.add(campaign)
        session.flush()
        audience = _chunks(session, non_openers(original), order.batch_size)
        batch_ids, recipients = write_batches(session, campaign.id, audience, message_domain(settings))
        if not recipients:
            # Raising rolls the resend back whole.
            raise ResendRefused(f"nobody to resend campaign {original.id} to: every recipient opened it, or has left since")
        if not scheduled:
            campaign_sending(session, campaign.id)
        list_name = mailing_list.name if mailing_list is not None else ""
        when = f", at {order.send_at.isoformat()}" if scheduled and order.send_at else ""
        detail = f"resend of campaign {original.id} to {recipients} non-opener(s){when}"
        audit.record(session, actor, Action.RESENT, campaign_id=campaign.id, target=list_name, detail=detail)
        return CreatedCampaign(id=campaign.id, recipients=recipients, batch_ids=batch_ids, scheduled=scheduled, is_test=False)


def _copy(original: Campaign, subject: str | None, send_at: dt.datetime | None, scheduled: bool, *, tracking: bool) -> Campaign:
    """The resend's row: the first campaign's issue as rendered (stage 1), with its own subject, time and figures."""
    now = utcnow()
    return Campaign(
        list_id=original.list_id,
        status=initial_status(scheduled=scheduled),
        kind=CampaignKind.ISSUE,
        provider=original.provider,
        is_test=False,
        title=original.title,
        subject=subject if subject is not None else original.subject,
        source=original.source,
        content_digest=original.content_digest,
        html_template=original.html_template,
        text_template=original.text_template,
        placeholder_nonce=original.placeholder_nonce,
        send_at=send_at,
        released_at=None if scheduled else now,
        recap_text=original.recap_text,
        lint=original.lint,
        resend_of=original.id,
        # With the first's links: its own opens and clicks make its own report.
        tracking=tracking,
        tracked_links=original.tracked_links,
    )


def _chunks(session: Session, query: Select[int | None, str], size: int) -> Iterator[Sequence[tuple[int | None, str]]]:
    result = session.execute(query.execution_options(yield_per=size))
    for rows in result.partitions(size):
        yield [(row[0], row[1]) for row in rows]


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive times, all of them UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
