"""Subject-line tests in the ledger: the test's share dealt among the variants at publish, the remainder held for the winner."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select, update

from publisher.accounts.roles import CLI_ACTOR
from publisher.content.drafting import lint_draft
from publisher.content.recap import load_recap
from publisher.core.errors import NewsletterError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, MailingList, ReleaseState
from publisher.ledger.dispatch import release_due
from publisher.ledger.drafts import DraftContent, SendOrder, create_draft, send_draft
from publisher.ledger.subject_tests import SubjectTestError, configure, share_sizes, subject_test
from tests.support.recaps import RECAP
from tests.support.subject_tests import FIRST, OTHERS, audience, publish_tested, records

LEASE = dt.timedelta(minutes=5)
PUBLISHED = dt.datetime(2025, 1, 16, 9, 0, tzinfo=dt.UTC)


def test_the_test_share_is_dealt_evenly_among_the_variants_and_the_remainder_waits_for_the_winner(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path, 103)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, OTHERS, share=20)
        due = {batch.batch_id for batch in release_due(db, LEASE)}
    rows = records(db, created.id)
    assert created.recipients == 103 and len(rows) == 103 and created.subject_test
    # 20 % of 103 is 20.6: 21 in the test, dealt 7, 7, 7 among the three variants.
    test = [row for row in rows if row[3] is None]
    remainder = [row for row in rows if row[3] is not None]
    assert collections.Counter(row[2] for row in test) == {1: 7, 2: 7, 3: 7}
    assert len(remainder) == 82 and {row[2] for row in remainder} == {None}
    # Only the test's batches go now; the remainder's are held by their release, due when the wait has passed.
    assert set(created.due_batch_ids) == due
    assert created.held_batch_ids and created.held_batch_ids.isdisjoint(due)
    with db.reading() as session:
        [release] = session.scalars(select(CampaignRelease).where(CampaignRelease.campaign_id == created.id)).all()
        campaign = session.get(Campaign, created.id)
        assert campaign is not None
        assert (campaign.subject_variants, campaign.ab_share, campaign.ab_wait_seconds, campaign.ab_metric) == (
            list(OTHERS),
            20,
            7200,
            "opens",
        )
    assert (release.zone, release.subject_test, release.recipients, release.state) == (None, True, 82, ReleaseState.PENDING)
    assert release.release_at == PUBLISHED + dt.timedelta(hours=2)
    # The sweep's release of due local-time zones never lets the remainder go, however late it is.
    with time_machine.travel(PUBLISHED + dt.timedelta(days=3), tick=False):
        assert {batch.batch_id for batch in release_due(db, LEASE)}.isdisjoint(created.held_batch_ids)


def test_the_test_share_is_random(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 60)
    picked = [
        frozenset(email for _, email, _, release, _ in records(db, publish_tested(settings, db, share=50).id) if release is None)
        for _ in range(3)
    ]
    assert all(len(chosen) == 30 for chosen in picked)
    assert len(set(picked)) == 3  # three draws of 30 among 60 alike: about one chance in 10^34


def test_a_scheduled_campaigns_test_waits_from_its_send_at(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    send_at = PUBLISHED + dt.timedelta(days=1)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50, wait=dt.timedelta(minutes=30), send_at=send_at)
    assert created.scheduled and created.due_batch_ids == []
    with db.reading() as session:
        release_at = session.scalar(select(CampaignRelease.release_at).where(CampaignRelease.campaign_id == created.id))
    assert release_at == send_at + dt.timedelta(minutes=30)


@pytest.mark.parametrize(
    ("audience_size", "share", "variants", "sizes"), [(10, 20, 2, [1, 1]), (11, 50, 3, [2, 2, 2]), (7, 50, 4, [1, 1, 1, 1])]
)
def test_test_sizes_round_half_up_and_give_the_first_variants_the_odd_ones(
    audience_size: int, share: int, variants: int, sizes: list[int]
) -> None:
    assert share_sizes(audience_size, share, variants) == sizes


def test_an_audience_too_small_for_one_recipient_per_variant_is_refused_and_nothing_is_written(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path, 9)
    with pytest.raises(SubjectTestError, match=r"a test share of 20% of 9 recipient\(s\) is 2: fewer than one recipient for each of the 3"):
        publish_tested(settings, db, OTHERS, share=20)
    with db.reading() as session:
        assert session.scalar(select(Campaign.id)) is None


def test_a_subject_test_needs_tracking(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    with pytest.raises(SubjectTestError, match="NEWSLETTER_TRACKING"):
        publish_tested(settings.model_copy(update={"tracking": False}), db, share=50)
    with db.transaction() as session:
        session.execute(update(MailingList).values(tracking=False))
    with pytest.raises(SubjectTestError, match="list 'attendees' has off"):
        publish_tested(settings, db, share=50)
    with db.reading() as session:
        assert session.scalar(select(Campaign.id)) is None


@pytest.mark.parametrize(
    ("variants", "options", "problem"),
    [
        ((), {}, "give 1 to 3 other subjects, not 0"),
        (("a", "b", "c", "d"), {}, "give 1 to 3 other subjects, not 4"),
        (("Line\nbreak",), {}, r"subject variant 2 contains a line break \(U\+000A\)"),
        (("  ",), {}, "subject variant 2 is empty"),
        (("x" * 501,), {}, "subject variant 2 is 501 characters long: at most 500"),
        ((FIRST.upper(),), {}, "subject variant 2 is the same as variant 1"),
        (("a", " A "), {}, "subject variant 3 is the same as variant 2"),
        (("a",), {"share": 0}, "1 to 50 percent of the audience, not 0"),
        (("a",), {"share": 51}, "1 to 50 percent of the audience, not 51"),
        (("a",), {"wait": dt.timedelta(seconds=59)}, "1 minute to 7 days, not 59s"),
        (("a",), {"metric": "replies"}, "one of opens, clicks, not 'replies'"),
    ],
)
def test_a_bad_set_up_is_refused_naming_what_is_wrong(variants: tuple[str, ...], options: dict[str, object], problem: str) -> None:
    with pytest.raises(SubjectTestError, match=problem):
        subject_test(FIRST, variants, **options)  # type: ignore[arg-type]


def test_a_draft_that_carries_a_test_is_sent_with_it_and_never_at_a_local_time(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 20)
    recap = load_recap(RECAP)
    content = DraftContent(recap, RECAP.read_text(encoding="utf-8"), "attendees", settings.provider, lint_draft(settings, recap))
    draft_id = create_draft(settings, db, content, CLI_ACTOR)
    with db.transaction() as session:
        draft = session.get(Campaign, draft_id)
        assert draft is not None
        configure(draft, subject_test(FIRST, OTHERS[:1], share=50))
    with pytest.raises(NewsletterError, match="carries a subject test"):
        send_draft(settings, db, SendOrder(draft_id, batch_size=5, local_time=dt.datetime(2030, 1, 1, 9)), CLI_ACTOR)
    created = send_draft(settings, db, SendOrder(draft_id, batch_size=5), CLI_ACTOR)
    assert created.subject_test and created.sent_now and created.recipients == 20
    rows = records(db, draft_id)
    assert collections.Counter(row[2] for row in rows if row[3] is None) == {1: 5, 2: 5}
    assert {row[2] for row in rows if row[3] is not None} == {None}
    assert set(created.held_batch_ids) == {batch for batch in created.batch_ids if batch not in created.due_batch_ids}


def test_a_variant_over_many_batches_gets_all_of_its_records(settings: Settings, db: Database, tmp_path: Path) -> None:
    # One recipient per batch: each variant's 550 batches are more than one statement names at once.
    audience(db, tmp_path, 2200)
    created = publish_tested(settings, db, share=50, batch_size=1)
    rows = records(db, created.id)
    assert collections.Counter(row[2] for row in rows) == {1: 550, 2: 550, None: 1100}
    assert all((row[3] is None) == (row[2] is not None) for row in rows)
