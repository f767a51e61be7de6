"""Subject-line tests: a share of the audience split among 2 to 4 subjects, and the rest sent the winner's.

When the campaign is written (``publisher.ledger.campaigns.write_subject_test``,
the same transaction as its ledger) a random test share of the audience is
picked and dealt evenly among the variants; each of their ledger records gets
its variant's number, and their batches go at once. The rest, the remainder,
is written into batches of its own that belong to a release with no time zone
(``CampaignRelease.subject_test``): the claim and the sweep's dispatch never
touch a batch whose release is pending, so the remainder waits in the ledger,
not as ETA tasks.

When the wait has passed, the workers' sweep decides; a sender may decide
earlier by hand. Either is one transaction that happens once, and only it
gives the remainder's records the winner's number and releases them
(``publisher.ledger.subject_test_decision``).

The statistics are in ``publisher.ledger.significance``; docs/subject-tests.md
states the rules.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from publisher.core.errors import NewsletterError
from publisher.core.text_rules import describe_character, first_control_character
from publisher.db.models import (
    Campaign,
    CampaignRelease,
    Delivery,
    MailingList,
    ReleaseState,
)
from publisher.tracking.figures import METRICS, Metric

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


class SubjectTestError(NewsletterError):
    """A subject test's set-up is not valid (a usage error: exit 2, HTTP 422)."""


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


def require_kept(wait: dt.timedelta, tracking_days: int) -> None:
    """The opens and clicks a test is decided on must still be kept when it is decided (NEWSLETTER_TRACKING_DAYS)."""
    if wait > dt.timedelta(days=tracking_days):
        days = f"{tracking_days} day{'' if tracking_days == 1 else 's'}"
        raise SubjectTestError(
            f"the test wait, {format_wait(wait)}, is longer than NEWSLETTER_TRACKING_DAYS ({days}), how long opens and clicks "
            "are kept: those it is decided on would be deleted first; shorten the wait"
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


def restart_waits(session: Session, campaign_ids: Sequence[int], now: dt.datetime) -> None:
    """Give each campaign's undecided test a full wait from ``now``: it starts (or resumes) sending now.

    The decision is taken on what the test share's recipients did: a test
    released late, or paused and resumed, gets its whole wait of sending time
    again rather than what was left of the one planned (docs/subject-tests.md).
    """
    if not campaign_ids:
        return
    tested = session.execute(
        select(Campaign.id, Campaign.ab_wait_seconds).where(
            Campaign.id.in_(campaign_ids), Campaign.ab_wait_seconds.is_not(None), Campaign.ab_winner.is_(None)
        )
    ).all()
    for campaign_id, wait_seconds in tested:
        session.execute(
            update(CampaignRelease)
            .where(
                CampaignRelease.campaign_id == campaign_id,
                CampaignRelease.subject_test.is_(True),
                CampaignRelease.state == ReleaseState.PENDING,
            )
            .values(release_at=now + dt.timedelta(seconds=wait_seconds or DEFAULT_WAIT.total_seconds()))
            .execution_options(synchronize_session=False)
        )


def winning_subject(subject: str, variants: Sequence[str] | None, winner: int | None) -> str:
    """The subject the remainder was sent: the winner's once decided, else the campaign's own (variant 1)."""
    subjects = variant_subjects(subject, variants)
    return subjects[winner - 1] if winner is not None and 1 <= winner <= len(subjects) else subject


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
