"""A draft's subject test at send: kept, replaced or taken off by the send order, in the send's own transaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from publisher.accounts.roles import CLI_ACTOR
from publisher.content.drafting import lint_draft
from publisher.content.recap import load_recap
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus
from publisher.ledger.drafts import DraftContent, DraftsTest, SendOrder, create_draft, send_draft
from publisher.ledger.subject_tests import SubjectTest, SubjectTestError, subject_test
from tests.support.recaps import RECAP
from tests.support.subject_tests import FIRST, OTHERS, audience, records


def draft_with(settings: Settings, db: Database, test: SubjectTest | None) -> int:
    recap = load_recap(RECAP)
    content = DraftContent(recap, RECAP.read_text(encoding="utf-8"), "attendees", settings.provider, lint_draft(settings, recap))
    return create_draft(settings, db, content, CLI_ACTOR, test)


def variants_of(db: Database, campaign_id: int) -> set[int | None]:
    return {row[2] for row in records(db, campaign_id) if row[3] is None}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_send_order_keeps_replaces_or_takes_off_the_drafts_test(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 20)
    carried = subject_test(FIRST, OTHERS[:1], share=50)
    kept = draft_with(settings, db, carried)
    assert send_draft(settings, db, SendOrder(kept, batch_size=5, subject_test=DraftsTest.KEEP), CLI_ACTOR).subject_test
    assert variants_of(db, kept) == {1, 2}

    replaced = draft_with(settings, db, carried)
    three = subject_test(FIRST, OTHERS, share=50, wait=dt.timedelta(minutes=10), metric="clicks")
    send_draft(settings, db, SendOrder(replaced, batch_size=5, subject_test=three), CLI_ACTOR)
    assert variants_of(db, replaced) == {1, 2, 3}
    with db.reading() as session:
        campaign = session.get(Campaign, replaced)
        assert campaign is not None
        assert (campaign.subject_variants, campaign.ab_wait_seconds, campaign.ab_metric) == (list(OTHERS), 600, "clicks")

    taken_off = draft_with(settings, db, carried)
    created = send_draft(settings, db, SendOrder(taken_off, batch_size=5, subject_test=None), CLI_ACTOR)
    assert not created.subject_test and created.held_batch_ids == frozenset()
    assert variants_of(db, taken_off) == {None}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_replacing_test_is_checked_against_the_drafts_subject_and_nothing_is_written(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path, 20)
    draft_id = draft_with(settings, db, None)
    # Built against another subject: its variant 2 is the draft's own subject.
    clash = subject_test("Another subject", (FIRST,), share=50)
    with pytest.raises(SubjectTestError, match="same as variant 1"):
        send_draft(settings, db, SendOrder(draft_id, batch_size=5, subject_test=clash), CLI_ACTOR)
    with db.reading() as session:
        campaign = session.get(Campaign, draft_id)
        assert campaign is not None and campaign.status is CampaignStatus.DRAFT and campaign.subject_variants is None
    assert records(db, draft_id) == []
