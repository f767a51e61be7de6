"""Where a subject test stands and what it found: for ``status``, ``report``, the API and the console.

``SubjectTestProgress`` counts ledger records: the test's recipients per
variant and how many of them were sent, the remainder waiting for the winner
and how many of it were sent, and each variant's records sent overall (its
test's, and the remainder's once it won). ``SubjectTestReport`` gives each variant's figure
on the test's metric as it stands now (its test records sent, those of them
with a human open or click, the rate), and the decision as it was taken: the
winner, how, the statistic and p-value, and the figures it was taken on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import OPEN_STATES, Batch, Campaign, CampaignRelease, CampaignStatus, Delivery, DeliveryState, ReleaseState
from publisher.ledger.significance import ALPHA, rate
from publisher.ledger.subject_test_decision import Decision, grace, remainder_release, variant_results
from publisher.ledger.subject_tests import DEFAULT_METRIC, format_wait, set_up, variant_subjects


@dataclass(frozen=True)
class VariantProgress:
    number: int
    subject: str
    #: Records of the test's share with this variant.
    recipients: int
    #: Records sent with this variant: the test's, and the remainder's once it won.
    sent: int
    #: Records of the test's share sent with this variant.
    test_sent: int


@dataclass(frozen=True)
class SubjectTestProgress:
    metric: str
    share: int
    wait_seconds: int
    #: When the sweep decides (the remainder's release), unless a winner is picked by hand first.
    decide_at: dt.datetime | None
    test_recipients: int
    #: Records held for the winner (all of the remainder, before and after the decision).
    remainder_recipients: int
    #: Whether the remainder has been released (a winner decided).
    remainder_released: bool
    #: Records of the remainder sent (with the winner's subject).
    remainder_sent: int
    variants: tuple[VariantProgress, ...]
    winner: int | None
    decision: str | None
    decided_at: dt.datetime | None
    #: Sending and undecided past ``decide_at``: the decision waits for the rest of the test share to be sent (or for a sweep).
    decision_overdue: bool = False
    #: While overdue, the latest the sweep decides, on what was sent by then (``grace``); None otherwise, and while none of
    #: the test share is sent yet (the sweep then gives the test its full wait again).
    decide_by: dt.datetime | None = None
    #: Records of the test share still to be sent (pending or sending).
    test_unsent: int = 0
    #: Overdue with nothing left to wait for: the test share is all sent (or failed), or ``decide_by`` has passed (a wait
    #: as long as NEWSLETTER_TRACKING_DAYS leaves no time for the rest): the workers' next sweep decides.
    next_sweep_decides: bool = False

    @property
    def wait(self) -> str:
        """The wait as ``--test-wait`` writes it (``2h``)."""
        return format_wait(dt.timedelta(seconds=self.wait_seconds))

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "share": self.share,
            "wait_seconds": self.wait_seconds,
            "decide_at": self.decide_at.isoformat() if self.decide_at else None,
            "decision_overdue": self.decision_overdue,
            "decide_by": self.decide_by.isoformat() if self.decide_by else None,
            "test_recipients": self.test_recipients,
            "remainder_recipients": self.remainder_recipients,
            "remainder_sent": self.remainder_sent,
            "variants": [
                {"number": v.number, "subject": v.subject, "recipients": v.recipients, "test_sent": v.test_sent, "sent": v.sent}
                for v in self.variants
            ],
            "winner": self.winner,
            "decision": self.decision,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


def subject_test_progress(db: Database, campaign_id: int, kept: dt.timedelta | None = None) -> SubjectTestProgress | None:
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        return progress_of(session, campaign, kept) if campaign is not None else None


def progress_of(session: Session, campaign: Campaign, kept: dt.timedelta | None = None) -> SubjectTestProgress | None:
    """The campaign's test as the ledger has it now; None when it carries none.

    ``kept`` is how long opens and clicks are kept (NEWSLETTER_TRACKING_DAYS),
    which bounds how late an overdue decision can be (``decide_by``).
    """
    test = set_up(campaign)
    if test is None:
        return None
    release = remainder_release(session, campaign.id)
    # Grouped by plain columns (a handful of groups: the remainder has one release), summed up below.
    rows = session.execute(
        select(Delivery.variant, Batch.release_id, Delivery.state, func.count())
        .join(Batch, Batch.id == Delivery.batch_id)
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.variant, Batch.release_id, Delivery.state)
    ).all()
    subjects = variant_subjects(campaign.subject, campaign.subject_variants)
    recipients = dict.fromkeys(range(1, len(subjects) + 1), 0)
    sent, test_sent = dict(recipients), dict(recipients)
    remainder = remainder_sent = test_unsent = 0
    for variant, release_id, state, count in rows:
        in_test, is_sent = release_id is None, DeliveryState(state) is DeliveryState.SENT
        if in_test and variant is not None:
            recipients[int(variant)] = recipients.get(int(variant), 0) + count
            test_sent[int(variant)] = test_sent.get(int(variant), 0) + (count if is_sent else 0)
            test_unsent += count if DeliveryState(state) in OPEN_STATES else 0
        elif not in_test:
            remainder += count
            remainder_sent += count if is_sent else 0
        if is_sent and variant is not None:
            sent[int(variant)] = sent.get(int(variant), 0) + count
    now = utcnow()
    overdue, decide_by = _overdue(campaign, release, kept, now, unsent=test_unsent > 0, any_sent=any(test_sent.values()))
    return SubjectTestProgress(
        metric=test.metric,
        share=test.share,
        wait_seconds=int(test.wait.total_seconds()),
        decide_at=release.release_at if release is not None else None,
        test_recipients=sum(recipients.values()),
        remainder_recipients=remainder,
        remainder_released=release is not None and release.state is ReleaseState.RELEASED,
        remainder_sent=remainder_sent,
        variants=tuple(
            VariantProgress(number, subjects[number - 1], recipients[number], sent[number], test_sent[number]) for number in recipients
        ),
        winner=campaign.ab_winner,
        decision=campaign.ab_decision,
        decided_at=campaign.ab_decided_at,
        decision_overdue=overdue,
        decide_by=decide_by,
        test_unsent=test_unsent,
        next_sweep_decides=decide_by is not None and (not test_unsent or decide_by <= now),
    )


def _overdue(
    campaign: Campaign, release: CampaignRelease | None, kept: dt.timedelta | None, now: dt.datetime, *, unsent: bool, any_sent: bool
) -> tuple[bool, dt.datetime | None]:
    """Whether the decision is past its time, and by when the sweep takes it at the latest.

    The rules are ``subject_test_decision.decide``'s: with part of the test
    share still to send it waits for the rest, one more wait at most (within
    ``kept``); with none of it sent, the sweep gives the test a full wait
    again, so there is no latest time to tell yet.
    """
    overdue = (
        campaign.status is CampaignStatus.SENDING
        and campaign.ab_winner is None
        and release is not None
        and release.state is ReleaseState.PENDING
        and release.release_at <= now
    )
    if not overdue or release is None:
        return False, None
    if unsent and not any_sent:
        return True, None
    return True, release.release_at + grace(campaign.ab_wait_seconds, kept)


@dataclass(frozen=True)
class VariantFigures:
    number: int
    subject: str
    #: The variant's test records sent: the trials.
    sent: int
    #: Those of them with a human open (a click counts as one) or a human click, per the test's metric: the successes.
    engaged: int

    @property
    def rate(self) -> float | None:
        return rate(self.engaged, self.sent)

    def as_dict(self) -> dict[str, object]:
        share = self.rate
        return {
            "number": self.number,
            "subject": self.subject,
            "sent": self.sent,
            "engaged": self.engaged,
            "rate": round(share, 4) if share is not None else None,
        }


@dataclass(frozen=True)
class SubjectTestReport:
    metric: str
    variants: tuple[VariantFigures, ...]
    winner: int | None
    decision: str | None
    decided_at: dt.datetime | None
    decided_by: str | None
    #: z (two variants) or chi-squared (three or four) when it was decided; None before, or when it could not be computed.
    statistic: float | None
    p_value: float | None
    #: Each variant's (engaged, sent) the decision was taken on.
    decided_on: tuple[tuple[int, int], ...] | None

    @property
    def statistic_name(self) -> str:
        return "z" if len(self.variants) == 2 else "chi-squared"

    @property
    def verdict(self) -> str:
        """The decision in words, as the report prints it."""
        if self.winner is None:
            return "not decided yet"
        if self.decision == Decision.BY_HAND.value:
            return f"variant {self.winner}, picked by hand ({self.decided_by})"
        if self.decision == Decision.SIGNIFICANT.value:
            return f"variant {self.winner}: a significant difference (p < {ALPHA})"
        return f"variant {self.winner}: no significant difference, so the first variant was sent"

    def as_dict(self) -> dict[str, object]:
        """The report's keys ``variants``, ``statistic``, ``p_value`` and ``winner``, and the decision's details."""
        return {
            "variants": [variant.as_dict() for variant in self.variants],
            "statistic": self.statistic,
            "p_value": self.p_value,
            "winner": self.winner,
            "subject_test": {
                "metric": self.metric,
                "statistic_name": self.statistic_name,
                "decision": self.decision,
                "verdict": self.verdict,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "decided_by": self.decided_by,
                "decided_on": [list(pair) for pair in self.decided_on] if self.decided_on is not None else None,
            },
        }


#: The report's keys for a campaign without a subject test.
NO_TEST: dict[str, object] = {"variants": [], "statistic": None, "p_value": None, "winner": None, "subject_test": None}


def report_of(session: Session, campaign: Campaign) -> SubjectTestReport | None:
    """The test's figures now and its decision; None when the campaign carries no test."""
    test = set_up(campaign)
    if test is None:
        return None
    subjects = variant_subjects(campaign.subject, campaign.subject_variants)
    results = variant_results(session, campaign)
    decided_on = tuple((int(pair[0]), int(pair[1])) for pair in campaign.ab_results) if campaign.ab_results else None
    return SubjectTestReport(
        metric=campaign.ab_metric or DEFAULT_METRIC,
        variants=tuple(
            VariantFigures(number, subject, sent=trials, engaged=successes)
            for number, (subject, (successes, trials)) in enumerate(zip(subjects, results, strict=True), start=1)
        ),
        winner=campaign.ab_winner,
        decision=campaign.ab_decision,
        decided_at=campaign.ab_decided_at,
        decided_by=campaign.ab_decided_by,
        statistic=campaign.ab_statistic,
        p_value=campaign.ab_p_value,
        decided_on=decided_on,
    )
