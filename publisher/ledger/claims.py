"""Ledger transitions for one batch: claim before the provider call, record after.

Each is one transaction for the whole batch (not one per recipient). A claim
moves pending records (and sending records whose lease has run out) to
``sending`` with a lease longer than any provider call, so a redelivered batch
never picks up records another worker is sending right now, and records
already sent are never claimed again.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, Text, Update, and_, bindparam, case, cast, func, or_, select, update

from publisher.audience.suppressions import suppress_address, suppressed_addresses
from publisher.core.clock import utcnow
from publisher.core.outcomes import SendResult
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignKind,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    Engagement,
    EngagementKind,
    ReleaseState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger import states
from publisher.ledger.result_changes import DELIVERIES, HeldRecord, RecordSummary, ResultChanges, summary

SUBSCRIBERS = Subscriber.metadata.tables[Subscriber.__tablename__]

#: What a claim reads of its campaign: the snapshot's columns and the status, not an ORM object.
SNAPSHOT_COLUMNS = (
    Campaign.id,
    Campaign.status,
    Campaign.list_id,
    Campaign.provider,
    Campaign.is_test,
    Campaign.subject,
    Campaign.html_template,
    Campaign.text_template,
    Campaign.placeholder_nonce,
    Campaign.kind,
    Campaign.subject_variants,
    Campaign.resend_of,
)
#: The claimed records' subscriber fields, read back by the claim's UPDATE (a record may have no subscriber).
#: The attributes come as JSON text: most are ``{}``, which needs no parsing.
#: Core columns, not the ORM's: the claim's rows come back as plain rows, with no identity map to keep in step.
SUBSCRIBER_COLUMNS = tuple(
    select(column).where(SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id).correlate(DELIVERIES).scalar_subquery().label(name)
    for name, column in (
        ("first_name", SUBSCRIBERS.c.first_name),
        ("last_name", SUBSCRIBERS.c.last_name),
        ("attributes", cast(SUBSCRIBERS.c.attributes, Text)),
    )
)


@dataclass(frozen=True)
class CampaignSnapshot:
    id: int
    list_id: int | None
    provider: str
    is_test: bool
    subject: str
    html_template: str
    text_template: str
    nonce: str
    kind: CampaignKind = CampaignKind.ISSUE
    #: A subject test's other subjects, variants 2 to 4 (``subject`` is variant 1).
    subject_variants: tuple[str, ...] = ()

    def subject_for(self, variant: int | None) -> str:
        """The subject of a record sent with ``variant`` (None or 1: the campaign's own)."""
        if variant is None or variant <= 1:
            return self.subject
        return self.subject_variants[variant - 2]

    @property
    def subjects(self) -> tuple[str, ...]:
        """Every subject its records may carry, variant 1 first."""
        return (self.subject, *self.subject_variants)

    @property
    def has_subscriber_links(self) -> bool:
        """Whether its emails carry unsubscribe and view links: a notice to the console's people does not."""
        return self.kind is not CampaignKind.NOTICE


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    email: str
    message_id: str
    subscriber_id: int | None
    first_name: str
    last_name: str
    attributes: dict[str, str]
    attempts: int
    #: Its subject test variant (None: the campaign's subject).
    variant: int | None = None


@dataclass(frozen=True)
class Claim:
    campaign: CampaignSnapshot
    deliveries: list[ClaimedDelivery]
    #: Seconds until a record leased by another worker may be taken over.
    busy_for: float | None
    #: The provider the records were claimed for.
    provider: str
    #: When the lease of the claimed records runs out.
    lease_until: dt.datetime


IN_DOUBT_REASON = "the worker was lost during the provider call: it may have been sent; see `newsletter reconcile`"

#: The claim's time, one parameter of its statements.
NOW = bindparam("now", type_=DELIVERIES.c.updated_at.type)


@functools.cache
def _claim_statement() -> Update:
    """Lock the batch's claimable records in id order, move them to ``sending`` and read them back (built once).

    Claimable: pending, or ``sending`` under a lease that ran out. The lock
    order (SQLite's write lock, PostgreSQL's row locks) makes two claims of
    one batch queue rather than deadlock.
    """
    d = DELIVERIES.c
    claimable = or_(d.state == DeliveryState.PENDING, and_(d.state == DeliveryState.SENDING, d.lease_until < NOW))
    locked = select(d.id).where(d.batch_id == bindparam("of_batch"), claimable).order_by(d.id).with_for_update()
    return (
        update(DELIVERIES)
        .where(d.id.in_(locked.scalar_subquery()))
        .values(
            state=DeliveryState.SENDING,
            attempts=d.attempts + 1,
            lease_until=bindparam("leased_until", type_=d.lease_until.type),
            provider=bindparam("for_provider"),
            updated_at=NOW,
        )
        .returning(d.id, d.email, d.message_id, d.subscriber_id, d.attempts, d.variant, *SUBSCRIBER_COLUMNS)
    )


@dataclass(frozen=True)
class ProviderChoice:
    """The provider a claim is for, chosen once the campaign's own is known; or why nothing is claimed now."""

    name: str = ""
    idempotent: bool = False
    #: Claim nothing and try again after this many seconds (the provider is paused for every worker).
    wait: float | None = None
    #: Claim nothing and pause the campaign with this reason (the workers cannot use the provider).
    refusal: str | None = None


#: Given the campaign's provider, the one to claim for. It runs inside the
#: claim's transaction (on SQLite, holding the write lock): a Redis read or
#: two, nothing slower.
ChooseProvider = Callable[[str], ProviderChoice]


def claim_batch(db: Database, batch_id: int, lease: dt.timedelta, provider: str, *, idempotent: bool) -> Claim | None:
    """Claim the batch's open records for ``provider``; None when the campaign is not sending or the batch's release is not due."""
    return claim_batch_for(db, batch_id, lease, lambda _campaign_provider: ProviderChoice(provider, idempotent))


def claim_batch_for(db: Database, batch_id: int, lease: dt.timedelta, choose: ChooseProvider) -> Claim | None:
    """Claim the batch's open records for the provider ``choose`` picks; None when the campaign is not sending.

    The campaign, the choice and the claim are one transaction, so a batch
    needs no lookup of its own. A choice that refuses the provider pauses
    the campaign in that transaction and claims nothing (None); one that
    waits claims nothing and says how long (``busy_for``). A batch of a time
    zone whose local time has not come is not claimed (None), however it
    reached the queue.

    A record still ``sending`` after its lease belonged to a worker that died
    mid-call: the provider may or may not have accepted it. With an
    idempotent provider it is claimed again (the same idempotency key makes
    the provider answer without sending twice); otherwise it becomes
    ``in_doubt`` for the operator, never silently re-sent or dropped.
    """
    now = utcnow()
    with db.transaction() as session:
        campaign = session.execute(
            select(*SNAPSHOT_COLUMNS)
            .join(Batch, Batch.campaign_id == Campaign.id)
            .outerjoin(CampaignRelease, CampaignRelease.id == Batch.release_id)
            .where(Batch.id == batch_id, or_(Batch.release_id.is_(None), CampaignRelease.state == ReleaseState.RELEASED))
        ).one_or_none()
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            return None
        choice = choose(campaign.provider)
        if choice.refusal is not None:
            states.pause_sending(session, campaign.id, choice.refusal)
            return None
        if choice.wait is not None:
            return Claim(campaign=_snapshot(campaign), deliveries=[], busy_for=choice.wait, provider=choice.name, lease_until=now)
        provider, idempotent = choice.name, choice.idempotent
        values = {"of_batch": batch_id, "now": now, "for_provider": provider, "leased_until": now + lease}
        resend = campaign.resend_of is not None
        set_aside = values | {"first_campaign": campaign.resend_of} if resend else values
        session.execute(_set_aside(campaign.list_id, idempotent=idempotent, resend=resend), set_aside)
        rows = session.execute(_claim_statement(), values).all()
        claimed = sorted(
            (
                ClaimedDelivery(
                    id=row.id,
                    email=row.email,
                    message_id=row.message_id,
                    subscriber_id=row.subscriber_id,
                    first_name=row.first_name or "",
                    last_name=row.last_name or "",
                    attributes=_attributes(row.attributes),
                    attempts=row.attempts,
                    variant=row.variant,
                )
                for row in rows
            ),
            key=lambda delivery: delivery.id,
        )
        busy_for = None
        if not claimed:
            states.complete_if_done(session, campaign.id)
            busy_until = session.scalar(
                select(func.min(Delivery.lease_until)).where(
                    Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING, Delivery.lease_until >= now
                )
            )
            busy_for = None if busy_until is None else max(1.0, (_aware(busy_until) - now).total_seconds())
        return Claim(campaign=_snapshot(campaign), deliveries=claimed, busy_for=busy_for, provider=provider, lease_until=now + lease)


@functools.lru_cache(maxsize=128)
def _set_aside(list_id: int | None, *, idempotent: bool, resend: bool = False) -> Update:
    """The records of a batch its claim will not take, in one statement (built once per list).

    A pending record whose address was suppressed, or whose subscriber
    unsubscribed, after the audience was frozen is skipped. So is, for a
    resend (``resend``, its first campaign as the ``first_campaign``
    parameter), one whose recipient opened or clicked the first campaign
    since the resend was written: a scheduled resend's audience is frozen
    days before it goes out, and a provider may report an open late. An
    expired claim is in doubt unless the provider can answer it again: only
    an idempotent provider, and only the one that held the claim (not, say,
    the other one after a failover), answers a repeated key without sending
    twice.
    """
    pending = DELIVERIES.c.state == DeliveryState.PENDING
    expired = and_(DELIVERIES.c.state == DeliveryState.SENDING, DELIVERIES.c.lease_until < NOW)
    lost = and_(expired, DELIVERIES.c.provider != bindparam("for_provider")) if idempotent else expired
    suppressed = DELIVERIES.c.email.in_(suppressed_addresses(list_id))
    skipped: ColumnElement[bool] = suppressed
    if list_id is not None:
        # Correlated, so each of the batch's records is one index lookup, not a
        # scan of every subscription of the list per batch.
        unsubscribed = (
            select(Subscription.id)
            .where(
                Subscription.list_id == list_id,
                Subscription.subscriber_id == DELIVERIES.c.subscriber_id,
                Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
            )
            .exists()
        )
        skipped = or_(skipped, unsubscribed)
    reasons: list[tuple[ColumnElement[bool], str]] = [(~pending, IN_DOUBT_REASON), (suppressed, "on the suppression list")]
    if resend:
        opened = _opened_first_campaign()
        skipped = or_(skipped, opened)
        reasons.append((opened, "opened the first campaign before the resend went out"))
    return (
        update(DELIVERIES)
        .where(DELIVERIES.c.batch_id == bindparam("of_batch"), or_(and_(pending, skipped), lost))
        .values(
            state=case((pending, DeliveryState.SUPPRESSED.value), else_=DeliveryState.IN_DOUBT.value),
            last_error=case(*reasons, else_="unsubscribed before sending"),
            lease_until=case((pending, DELIVERIES.c.lease_until), else_=None),
            updated_at=NOW,
        )
    )


def _opened_first_campaign() -> ColumnElement[bool]:
    """Whether the record's recipient has a human open or click of the resend's first campaign (``first_campaign``).

    As ``publisher.tracking.figures.engaged_deliveries`` counts a reader: a
    click counts as an open, a machine's fetch does not. The first campaign's
    record is found by its address (the resend's records copy it), through
    the unique index on (campaign, address); its engagements through theirs
    on the record.
    """
    first = DELIVERIES.alias("first_deliveries")
    return (
        select(Engagement.id)
        .join(first, first.c.id == Engagement.delivery_id)
        .where(
            first.c.campaign_id == bindparam("first_campaign", type_=first.c.campaign_id.type),
            first.c.email == DELIVERIES.c.email,
            Engagement.kind.in_((EngagementKind.OPEN, EngagementKind.CLICK)),
            Engagement.machine.is_(False),
        )
        .exists()
    )


def record_results(db: Database, claim: Claim, results: list[SendResult], max_attempts: int, *, idempotent: bool = False) -> RecordSummary:
    """Write every result of one provider call in one transaction (one statement for the batch's records).

    A result is written only to a record still ``sending`` under the attempt
    of ``claim``: one whose lease ran out meanwhile was taken over (or put in
    doubt) and is no longer ours, even when the new claim holds it still.
    """
    now = utcnow()
    held: dict[int, HeldRecord] = {delivery.id: delivery for delivery in claim.deliveries}
    with db.transaction() as session:
        changes = ResultChanges()
        for result in results:
            if (record := held.get(result.delivery_id)) is not None:
                changes.add(result, record, max_attempts, idempotent=idempotent)
        written = changes.write(session, claim.campaign.id, now)
        for change in written:
            if change.suppress is not None:
                suppress_address(session, change.record.email, f"provider: {change.suppress}", f"provider:{claim.provider}")
        states.complete_if_done(session, claim.campaign.id)
    return summary(written)


def error_rate(db: Database, campaign_id: int) -> tuple[float, int]:
    """Failed share of the records finished (sent or failed) since the campaign was released or resumed.

    Counting from the last release means a resumed campaign is judged on
    what happens after the operator's fix, not paused again at once for the
    failures that paused it.
    """
    with db.reading() as session:
        since = session.scalar(select(Campaign.released_at).where(Campaign.id == campaign_id))
        query = (
            select(Delivery.state, func.count())
            .where(Delivery.campaign_id == campaign_id, Delivery.state.in_([DeliveryState.SENT, DeliveryState.FAILED]))
            .group_by(Delivery.state)
        )
        if since is not None:
            query = query.where(Delivery.updated_at >= since)
        rows = dict(session.execute(query).all())
    failed, sent = rows.get(DeliveryState.FAILED, 0), rows.get(DeliveryState.SENT, 0)
    finished = failed + sent
    return (failed / finished if finished else 0.0), finished


def pause_campaign(db: Database, campaign_id: int, reason: str) -> None:
    """Stop a sending campaign for an operator; its open records stay pending."""
    with db.transaction() as session:
        states.pause_sending(session, campaign_id, reason)


def _snapshot(campaign: Row[*tuple[Any, ...]]) -> CampaignSnapshot:
    return CampaignSnapshot(
        id=campaign.id,
        list_id=campaign.list_id,
        provider=campaign.provider,
        is_test=campaign.is_test,
        subject=campaign.subject,
        html_template=campaign.html_template,
        text_template=campaign.text_template,
        nonce=campaign.placeholder_nonce,
        kind=CampaignKind(campaign.kind),
        subject_variants=tuple(campaign.subject_variants or ()),
    )


def _attributes(text: str | None) -> dict[str, str]:
    if not text or text == "{}":
        return {}
    try:
        return dict(orjson.loads(text))
    except orjson.JSONDecodeError:
        # Written by the standard library, which writes what orjson refuses to read (NaN, a lone surrogate's escape).
        return dict(json.loads(text))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
