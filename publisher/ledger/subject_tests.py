"""Subject-line tests: a share of the audience split among 2 to 4 subjects, and the rest sent the winner's.

When the campaign is written (``publisher.ledger.campaigns.write_subject_test``,
the same transaction as its ledger) a random test share of the audience is
picked and dealt evenly among the variants; each of their ledger records gets
its variant's number, and their batches go at once. The rest, the remainder,
is written into batches of its own that belong to a release with no time zone
(``CampaignRelease.subject_test``): the claim and the sweep's dispatch never
touch a batch whose release is pending, so the remainder waits in the ledger,
not as ETA tasks.

When the wait has passed (``release_at`` of that release), the workers' sweep
decides (``decide_due``); a sender may decide earlier by hand
(``pick_winner``). Either is one transaction, guarded by
``UPDATE campaigns … WHERE ab_winner IS NULL`` so that it happens once
whoever else tries at the same moment: it records the winner, gives every
remainder record the winner's number and marks the release released. Only
then are the remainder's batches due, so no record is ever sent without its
variant, and a worker that dies in the middle leaves nothing decided for the
next sweep to decide again.

The statistics are in ``publisher.ledger.significance``; docs/subject-tests.md
states the rules.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.text_rules import describe_character, first_control_character
from publisher.db.engine import Database
from publisher.db.models import (
    MAX_ID,
    Batch,
    Campaign,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    MailingList,
    ReleaseState,
)
from publisher.ledger.significance import Comparison, compare
from publisher.tracking.figures import METRICS, Metric, engaged_deliveries

MIN_VARIANTS = 2
MAX_VARIANTS = 4
#: Percent of the audience in the test, when none is given; a test share is 1 to 50 percent.
DEFAULT_SHARE = 20
MIN_SHARE, MAX_SHARE = 1, 50
DEFAULT_WAIT = dt.timedelta(hours=2)
#: Shorter than a minute leaves no one time to open; longer than a week, the remainder's issue is old news.
MIN_WAIT, MAX_WAIT = dt.timedelta(minutes=1), dt.timedelta(days=7)
DEFAULT_METRIC: Metric = "opens"
#: What a campaign's subject column holds.
SUBJECT_LIMIT = 500
#: Who decides when the wait has passed.
SWEEP_DECIDER = "sweep"


class SubjectTestError(NewsletterError):
    """A subject test's set-up is not valid (a usage error: exit 2, HTTP 422)."""


class DecisionConflict(NewsletterError):
    """The winner cannot be picked now: decided already, or the campaign cannot send it (exit 2, HTTP 409)."""


class Decision(enum.StrEnum):
    #: The test found a difference: the best variant won.
    SIGNIFICANT = "significant"
    #: No significant difference (or none computable): variant 1 was sent.
    NOT_SIGNIFICANT = "not_significant"
    BY_HAND = "by_hand"


@dataclass(frozen=True)
class SubjectTest:
    """A test's set-up: the other subjects (variants 2 to 4) and how the test runs."""

    variants: tuple[str, ...]
    share: int = DEFAULT_SHARE
    wait: dt.timedelta = DEFAULT_WAIT
    metric: Metric = DEFAULT_METRIC


def subject_test(
    first_subject: str,
    variants: Sequence[str],
    *,
    share: int = DEFAULT_SHARE,
    wait: dt.timedelta = DEFAULT_WAIT,
    metric: str = DEFAULT_METRIC,
) -> SubjectTest:
    """Check a test's set-up against the campaign's own subject (variant 1); raise SubjectTestError naming what is wrong."""
    if not MIN_VARIANTS - 1 <= len(variants) <= MAX_VARIANTS - 1:
        raise SubjectTestError(
            f"a subject test has {MIN_VARIANTS} to {MAX_VARIANTS} variants, the issue's own subject first: "
            f"give 1 to {MAX_VARIANTS - 1} other subjects, not {len(variants)}"
        )
    seen = {first_subject.strip().casefold(): 1}
    for number, subject in enumerate(variants, start=2):
        check_subject(subject, f"subject variant {number}")
        key = subject.strip().casefold()
        if key in seen:
            raise SubjectTestError(f"subject variant {number} is the same as variant {seen[key]}: each variant needs its own subject")
        seen[key] = number
    if not MIN_SHARE <= share <= MAX_SHARE:
        raise SubjectTestError(f"the test share is {MIN_SHARE} to {MAX_SHARE} percent of the audience, not {share}")
    if not MIN_WAIT <= wait <= MAX_WAIT:
        raise SubjectTestError(f"the test wait is 1 minute to 7 days, not {format_wait(wait)}")
    if metric not in METRICS:
        raise SubjectTestError(f"the test metric is one of {', '.join(METRICS)}, not '{metric}'")
    return SubjectTest(tuple(subject.strip() for subject in variants), share, wait, metric)


def require_tracking(tracking: bool, mailing_list: MailingList) -> None:
    """A test is judged on human opens or clicks: refuse it where none are recorded."""
    if not tracking:
        raise SubjectTestError("a subject test needs tracking, which NEWSLETTER_TRACKING switches off: no open or click would be seen")
    if not mailing_list.tracking:
        raise SubjectTestError(
            f"a subject test needs tracking, which list '{mailing_list.name}' has off "
            f"(`newsletter lists set {mailing_list.name} --tracking on`): no open or click would be seen"
        )


def check_subject(subject: str, what: str) -> None:
    """A subject goes in a mail header: one line, not empty, at most SUBJECT_LIMIT characters."""
    if not subject.strip():
        raise SubjectTestError(f"{what} is empty")
    if len(subject) > SUBJECT_LIMIT:
        raise SubjectTestError(f"{what} is {len(subject)} characters long: at most {SUBJECT_LIMIT}")
    if (char := first_control_character(subject)) is not None:
        raise SubjectTestError(f"{what} contains {describe_character(char)}: a subject is one line of text")


_DURATION = re.compile(r"([0-9]{1,7})([smh])")
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_wait(text: str) -> dt.timedelta:
    """A wait written ``90s``, ``30m`` or ``2h``, from 1 minute to 7 days; SubjectTestError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise SubjectTestError(f"{text[:40]!r} is not a duration: a number and a unit, s, m or h (90s, 30m, 2h)")
    wait = dt.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])
    if not MIN_WAIT <= wait <= MAX_WAIT:
        raise SubjectTestError(f"{text.strip()} is out of range: the test wait is 1 minute to 7 days")
    return wait


def format_wait(wait: dt.timedelta) -> str:
    seconds = int(wait.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def configure(campaign: Campaign, test: SubjectTest | None) -> None:
    """Put a test's set-up on a campaign (or take it off, with None); a draft keeps it until it is sent."""
    campaign.subject_variants = list(test.variants) if test else None
    campaign.ab_share = test.share if test else None
    campaign.ab_wait_seconds = int(test.wait.total_seconds()) if test else None
    campaign.ab_metric = test.metric if test else None


def set_up(campaign: Campaign) -> SubjectTest | None:
    """The test a campaign carries, or None."""
    if not campaign.subject_variants:
        return None
    return SubjectTest(
        variants=tuple(campaign.subject_variants),
        share=campaign.ab_share or DEFAULT_SHARE,
        wait=dt.timedelta(seconds=campaign.ab_wait_seconds or DEFAULT_WAIT.total_seconds()),
        metric=campaign.ab_metric if campaign.ab_metric in METRICS else DEFAULT_METRIC,
    )


def variant_subjects(subject: str, variants: Sequence[str] | None) -> tuple[str, ...]:
    """Every variant's subject, variant 1 (the campaign's own) first."""
    return (subject, *(variants or ()))


def share_sizes(audience: int, share: int, variants: int) -> list[int]:
    """How many recipients each variant gets: ``share`` percent of ``audience``, rounded half up, dealt evenly.

    The first variants get one more when the test share does not divide evenly.
    Raise SubjectTestError when some variant would get no one.
    """
    size = (audience * share + 50) // 100
    if size < variants:
        raise SubjectTestError(
            f"a test share of {share}% of {audience} recipient(s) is {size}: fewer than one recipient for each of the "
            f"{variants} variants; raise the test share or test fewer subjects"
        )
    return [size // variants + (1 if number < size % variants else 0) for number in range(variants)]


Member = tuple[int | None, str]
#: Batch ids per UPDATE when the test's records are given their variant.
_IDS_PER_STATEMENT = 500


class AudienceSplit:
    """Deal a campaign's audience, as it streams by, into the test's variants and the remainder.

    Selection sampling (Knuth's algorithm S) picks exactly the test's size
    from an audience whose size is known, uniformly at random, in one pass
    and without holding it; the picked recipients are dealt to the variants
    in turn. Each batch holds one variant's recipients, or the remainder's.
    """

    def __init__(self, session: Session, campaign: Campaign, audience: int, start: dt.datetime, rng: random.Random | None = None) -> None:
        test = set_up(campaign)
        if test is None:
            raise ValueError(f"campaign {campaign.id} has no subject test")
        self._variants = len(test.variants) + 1
        self._sizes = share_sizes(audience, test.share, self._variants)
        self._needed, self._left = sum(self._sizes), audience
        self._picked = 0
        # Seeded from the system's entropy: a fair draw, not a secret, and a million draws take a fraction of a second.
        self._rng = rng or random.Random()  # noqa: S311 (sampling, not cryptography)
        self.remainder = CampaignRelease(
            campaign_id=campaign.id,
            zone=None,
            subject_test=True,
            release_at=start + test.wait,
            recipients=0,
            state=ReleaseState.PENDING,
        )
        session.add(self.remainder)
        session.flush()
        #: The lane (variant number, 0 for the remainder) of each batch, in the order they were yielded.
        self.lanes: list[int] = []
        self._session = session

    def _lane(self) -> int:
        left = max(self._left, 1)
        self._left -= 1
        if self._needed > 0 and self._rng.random() * left < self._needed:
            self._needed -= 1
            self._picked += 1
            return (self._picked - 1) % self._variants + 1
        return 0

    def group(self, chunks: Iterable[Sequence[Member]], size: int) -> Iterator[tuple[int | None, Sequence[Member]]]:
        """Yield batches of at most ``size`` recipients of one lane each, with the release they wait for (None: none)."""
        filling: dict[int, list[Member]] = {}
        for chunk in chunks:
            for member in chunk:
                lane = self._lane()
                batch = filling.setdefault(lane, [])
                batch.append(member)
                if len(batch) >= size:
                    yield self._yielded(lane, batch)
                    filling[lane] = []
        for lane, batch in sorted(filling.items()):
            if batch:
                yield self._yielded(lane, batch)

    def _yielded(self, lane: int, batch: list[Member]) -> tuple[int | None, list[Member]]:
        self.lanes.append(lane)
        if lane == 0:
            self.remainder.recipients += len(batch)
            return self.remainder.id, batch
        return None, batch

    def finish(self, batch_ids: Sequence[int]) -> frozenset[int]:
        """Give the test's records their variant; return the remainder's batches (held until the decision)."""
        if len(batch_ids) != len(self.lanes):
            raise RuntimeError("the batches written are not the batches dealt")
        by_lane: dict[int, list[int]] = {}
        for batch_id, lane in zip(batch_ids, self.lanes, strict=True):
            by_lane.setdefault(lane, []).append(batch_id)
        missing = [number for number in range(1, self._variants + 1) if number not in by_lane]
        if missing:
            # The audience shrank between its count and its reading (someone left meanwhile).
            raise SubjectTestError("the audience changed while the test was being dealt: some variant got no one; send again")
        for number in range(1, self._variants + 1):
            batches = by_lane[number]
            # In slices: SQLite takes a bounded number of parameters per statement.
            for start in range(0, len(batches), _IDS_PER_STATEMENT):
                self._session.execute(
                    update(Delivery)
                    .where(Delivery.batch_id.in_(batches[start : start + _IDS_PER_STATEMENT]))
                    .values(variant=number)
                    .execution_options(synchronize_session=False)
                )
        return frozenset(by_lane.get(0, ()))


# --- The decision -----------------------------------------------------------------------------------


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


def _record(session: Session, campaign: Campaign, verdict: _Verdict, now: dt.datetime) -> bool:
    """Write the decision and release the remainder with the winner's subject, once; False when it was decided already."""
    winner, comparison = verdict.winner, verdict.comparison
    written = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.ab_winner.is_(None))
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


def decide(db: Database, campaign_id: int, now: dt.datetime | None = None) -> Decided | None:
    """Decide one test on its figures now, in one transaction; None when it was decided already (or is not a test)."""
    now = now or utcnow()
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or not campaign.subject_variants or campaign.ab_winner is not None:
            return None
        results = variant_results(session, campaign)
        comparison = compare(results)
        how = Decision.SIGNIFICANT if comparison.significant else Decision.NOT_SIGNIFICANT
        winner = comparison.best if comparison.significant else 1
        if not _record(session, campaign, _Verdict(winner, how, SWEEP_DECIDER, results, comparison), now):
            return None
        return Decided(campaign_id, winner, how, comparison)


def decide_due(db: Database, now: dt.datetime | None = None) -> list[Decided]:
    """The sweep's step: decide every test whose wait has passed, each in its own transaction."""
    now = now or utcnow()
    return [decided for campaign_id in due_decisions(db, now) if (decided := decide(db, campaign_id, now)) is not None]


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
        campaign = session.get(Campaign, campaign_id)
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
