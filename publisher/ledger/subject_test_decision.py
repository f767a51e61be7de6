"""A subject test's decision: taken once, on the test's figures when the wait has passed, or by hand before.

Either is one transaction, guarded by ``UPDATE campaigns … WHERE ab_winner IS
NULL`` so that it happens once whoever else tries at the same moment: it
records the winner, gives every remainder record the winner's number and
marks the remainder's release released. Only then are the remainder's
batches due, so no record is ever sent without its variant, and a worker that
dies in the middle leaves nothing decided for the next sweep to decide again.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.db.engine import Database
from publisher.db.models import (
    MAX_ID,
    OPEN_STATES,
    Batch,
    Campaign,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    ReleaseState,
)
from publisher.ledger.significance import Comparison, compare
from publisher.ledger.subject_tests import DEFAULT_METRIC, DEFAULT_WAIT, SubjectTestError, restart_waits
from publisher.tracking.figures import METRICS, Metric, engaged_deliveries

log = logging.getLogger(__name__)

#: Who decides when the wait has passed.
SWEEP_DECIDER = "sweep"


class DecisionConflict(NewsletterError):
    """The winner cannot be picked now: decided already, or the campaign cannot send it (exit 2, HTTP 409)."""


class Decision(enum.StrEnum):
    #: The test found a difference: the best variant won.
    SIGNIFICANT = "significant"
    #: No significant difference (or none computable): variant 1 was sent.
    NOT_SIGNIFICANT = "not_significant"
    BY_HAND = "by_hand"


def remainder_release(session: Session, campaign_id: int) -> CampaignRelease | None:
    return session.scalar(select(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id, CampaignRelease.subject_test.is_(True)))


def variant_results(session: Session, campaign: Campaign) -> list[tuple[int, int]]:
    """Each variant's (successes, trials): its test records sent, and those of them with a human open (or click)."""
    metric: Metric = campaign.ab_metric if campaign.ab_metric in METRICS else DEFAULT_METRIC
    engaged = engaged_deliveries(campaign.id, metric)
    rows = session.execute(
        select(Delivery.variant, func.count(), func.sum(case((Delivery.id.in_(engaged), 1), else_=0)))
        .join(Batch, Batch.id == Delivery.batch_id)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.state == DeliveryState.SENT,
            Delivery.variant.is_not(None),
            Batch.release_id.is_(None),  # the test's own batches, not the remainder's
        )
        .group_by(Delivery.variant)
    ).all()
    found = {int(variant): (int(successes or 0), int(trials)) for variant, trials, successes in rows}
    return [found.get(number, (0, 0)) for number in range(1, len(campaign.subject_variants or ()) + 2)]


@dataclass(frozen=True)
class Decided:
    campaign_id: int
    winner: int
    decision: Decision
    comparison: Comparison


@dataclass(frozen=True)
class _Verdict:
    winner: int
    how: Decision
    by: str
    results: list[tuple[int, int]]
    comparison: Comparison
    #: Only while the campaign is sending (the sweep's decision); a sender may pick a scheduled or paused campaign's winner.
    sending_only: bool = False


def _record(session: Session, campaign: Campaign, verdict: _Verdict, now: dt.datetime) -> bool:
    """Write the decision and release the remainder with the winner's subject, once; False when it was decided already (or cannot be)."""
    winner, comparison = verdict.winner, verdict.comparison
    # In the UPDATE itself: a pause or cancel committed meanwhile makes it write nothing.
    sending = (Campaign.status == CampaignStatus.SENDING,) if verdict.sending_only else ()
    written = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.ab_winner.is_(None), *sending)
        .values(
            ab_winner=winner,
            ab_decided_at=now,
            ab_decision=verdict.how.value,
            ab_decided_by=verdict.by[:400],
            ab_statistic=comparison.statistic,
            ab_p_value=comparison.p_value,
            ab_results=[list(pair) for pair in verdict.results],
        )
        .execution_options(synchronize_session=False)
    )
    if int(getattr(written, "rowcount", 0) or 0) != 1:
        return False
    release = remainder_release(session, campaign.id)
    if release is not None:
        held = select(Batch.id).where(Batch.release_id == release.id)
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_(held), Delivery.variant.is_(None))
            .values(variant=winner)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(CampaignRelease)
            .where(CampaignRelease.id == release.id, CampaignRelease.state == ReleaseState.PENDING)
            .values(state=ReleaseState.RELEASED, released_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


def due_decisions(db: Database, now: dt.datetime | None = None) -> list[int]:
    """Campaigns sending whose test wait has passed and that have no winner yet: a cheap query for every sweep."""
    now = now or utcnow()
    with db.reading() as session:
        return list(
            session.scalars(
                select(CampaignRelease.campaign_id)
                .join(Campaign, Campaign.id == CampaignRelease.campaign_id)
                .where(
                    CampaignRelease.state == ReleaseState.PENDING,
                    CampaignRelease.release_at <= now,
                    CampaignRelease.subject_test.is_(True),
                    Campaign.status == CampaignStatus.SENDING,
                    Campaign.ab_winner.is_(None),
                )
                .order_by(CampaignRelease.campaign_id)
            )
        )


def decide(db: Database, campaign_id: int, now: dt.datetime | None = None, *, kept: dt.timedelta | None = None) -> Decided | None:
    """Decide one test on its figures now, in one transaction, if it is due; None when it is not (or is no test).

    Not due: decided already, not sending (paused, cancelled, complete), or
    its wait not over. A test none of whose share was sent yet while some of
    it still waits (its workers were down) gets a full wait from now instead.
    One with part of its share still to send waits for the rest (``grace``);
    ``kept`` is how long opens and clicks are kept (NEWSLETTER_TRACKING_DAYS).
    """
    now = now or utcnow()
    with db.transaction() as session:
        # Held until the decision commits: a pause, resume or cancel (which take the same lock) comes wholly before or after it.
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None or not campaign.subject_variants or campaign.ab_winner is not None:
            return None
        release = remainder_release(session, campaign_id)
        if campaign.status is not CampaignStatus.SENDING or release is None or release.state is not ReleaseState.PENDING:
            return None
        if release.release_at > now:
            return None
        results = variant_results(session, campaign)
        share_open = _test_share_open(session, campaign_id)
        if share_open and not any(trials for _, trials in results):
            restart_waits(session, [campaign_id], now)
            return None
        if share_open and now < release.release_at + grace(campaign.ab_wait_seconds, kept):
            return None  # the rest of the test share is still to be sent: decide on all of it
        comparison = compare(results)
        how = Decision.SIGNIFICANT if comparison.significant else Decision.NOT_SIGNIFICANT
        winner = comparison.best if comparison.significant else 1
        if not _record(session, campaign, _Verdict(winner, how, SWEEP_DECIDER, results, comparison, sending_only=True), now):
            return None
        return Decided(campaign_id, winner, how, comparison)


def grace(wait_seconds: int | None, kept: dt.timedelta | None) -> dt.timedelta:
    """How long past its wait a test waits for the rest of its share to be sent (workers that died, a slow provider).

    One more wait at most, so that a share never sent in full is still
    decided, on what was; and never past the days its first opens are kept
    (``kept``, NEWSLETTER_TRACKING_DAYS; None: no such bound).
    """
    wait = dt.timedelta(seconds=wait_seconds or DEFAULT_WAIT.total_seconds())
    return wait if kept is None else max(dt.timedelta(0), min(wait, kept - wait))


def _test_share_open(session: Session, campaign_id: int) -> bool:
    """Whether some record of the test share is still to be sent."""
    found = session.scalar(
        select(Delivery.id)
        .join(Batch, Batch.id == Delivery.batch_id)
        .where(Delivery.campaign_id == campaign_id, Delivery.state.in_(OPEN_STATES), Batch.release_id.is_(None))
        .limit(1)
    )
    return found is not None


def decide_due(db: Database, now: dt.datetime | None = None, *, kept: dt.timedelta | None = None) -> list[Decided]:
    """The sweep's step: decide every test whose wait has passed, each in its own transaction (``decide``).

    One that fails is logged and left for the next sweep; the others are still decided.
    """
    now = now or utcnow()
    decided: list[Decided] = []
    for campaign_id in due_decisions(db, now):
        try:
            outcome = decide(db, campaign_id, now, kept=kept)
        except Exception:  # one damaged campaign must not keep every other test waiting
            log.exception("campaign %s: its subject test could not be decided; the next sweep tries again", campaign_id)
            continue
        if outcome is not None:
            decided.append(outcome)
    return decided


def pick_winner(db: Database, campaign_id: int, number: int, actor: Actor) -> list[int]:
    """Decide a test by hand before its wait has passed; return the remainder's batches when they are due now (the campaign sends).

    Raise NotFoundError for an unknown campaign, SubjectTestError for one
    without a test or a variant it does not have, DecisionConflict once it is
    decided or when it can no longer send (a draft, cancelled, complete).
    """
    now = utcnow()
    if not 0 < campaign_id <= MAX_ID:
        raise NotFoundError(f"no campaign with id {campaign_id}")
    with db.transaction() as session:
        # As in decide(): a cancel committed meanwhile is seen before the pick, not after it.
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None or campaign.is_test:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        if not campaign.subject_variants:
            raise SubjectTestError(f"campaign {campaign_id} has no subject test: there is no winner to pick")
        variants = len(campaign.subject_variants) + 1
        if not 1 <= number <= variants:
            raise SubjectTestError(f"campaign {campaign_id} has variants 1 to {variants}: there is no variant {number}")
        if campaign.ab_winner is not None:
            raise DecisionConflict(_decided_already(campaign))
        if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.CANCELLED, CampaignStatus.COMPLETE):
            raise DecisionConflict(f"campaign {campaign_id} is {campaign.status.value}: its test has no remainder waiting for a winner")
        # The statistic as it stands, for the report: the pick is the sender's, whatever it says.
        results = variant_results(session, campaign)
        if not _record(session, campaign, _Verdict(number, Decision.BY_HAND, actor.label, results, compare(results)), now):
            session.refresh(campaign)
            raise DecisionConflict(_decided_already(campaign))
        audit.record(session, actor, Action.WINNER_PICKED, campaign_id=campaign_id, detail=f"variant {number}")
        release = remainder_release(session, campaign_id)
        if release is None or campaign.status is not CampaignStatus.SENDING:
            return []  # a scheduled or paused campaign's batches are enqueued by the sweep once it sends
        return list(session.scalars(select(Batch.id).where(Batch.release_id == release.id).order_by(Batch.id)))


def _decided_already(campaign: Campaign) -> str:
    how = {
        Decision.SIGNIFICANT.value: "by the test",
        Decision.NOT_SIGNIFICANT.value: "with no significant difference",
        Decision.BY_HAND.value: f"by hand ({campaign.ab_decided_by})",
    }.get(campaign.ab_decision or "", "")
    when = f" at {campaign.ab_decided_at:%Y-%m-%d %H:%M} UTC" if campaign.ab_decided_at else ""
    return f"campaign {campaign.id}'s winner was decided already: variant {campaign.ab_winner}, {how}{when}"
