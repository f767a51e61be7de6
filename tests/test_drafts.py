"""Drafts in the ledger: saved with their lint findings, sent once (also when two people send at once), never released by the sweep."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.accounts import audit
from publisher.accounts.roles import CLI_ACTOR, Actor
from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Role
from publisher.ledger import control
from publisher.ledger.campaigns import CreatedCampaign
from publisher.ledger.dispatch import release_due
from publisher.ledger.drafts import DraftConflict, LintRefused, SendOrder, load_draft, send_draft
from publisher.ledger.status import campaign_progress
from tests.support.audience import people
from tests.support.drafts import batches_of, campaign_count, deliveries_of, save_draft
from tests.support.recaps import insecure_image_recap

LEASE = dt.timedelta(minutes=5)
EMPTY_BODY = "---\ntitle: Still being written\n---\n"


def status_of(db: Database, campaign_id: int) -> CampaignStatus:
    return load_draft(db, campaign_id).status


def test_a_draft_is_saved_with_its_lint_errors_and_an_empty_body(settings: Settings, db: Database) -> None:
    people(db)
    draft = save_draft(settings, db, EMPTY_BODY)
    stored = load_draft(db, draft)
    assert stored.status is CampaignStatus.DRAFT
    assert stored.recap_text == EMPTY_BODY
    assert stored.created_by == "cli"
    errors = [finding["check"] for finding in stored.lint["findings"] if finding["severity"] == "error"]
    assert "body" in errors
    assert deliveries_of(db, draft) == 0 and batches_of(db, draft) == 0


def test_a_draft_of_an_unknown_list_is_refused_and_nothing_is_written(settings: Settings, db: Database) -> None:
    people(db)
    with pytest.raises(NotFoundError, match="newsroom"):
        save_draft(settings, db, list_name="newsroom")
    assert campaign_count(db) == 0 and audit.entries(db) == []


def test_a_draft_is_sent_once_and_a_second_send_is_a_conflict(settings: Settings, db: Database) -> None:
    audience = people(db)
    draft = save_draft(settings, db)
    created = send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)
    assert created.recipients == len(audience) == deliveries_of(db, draft)
    assert status_of(db, draft) is CampaignStatus.SENDING
    with pytest.raises(DraftConflict, match="sent already"):
        send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)
    assert deliveries_of(db, draft) == len(audience)


def test_two_sends_at_once_send_the_draft_once(settings: Settings, db: Database) -> None:
    audience = people(db)
    draft = save_draft(settings, db)
    start = threading.Barrier(2)
    results: list[CreatedCampaign | BaseException] = []

    def send(actor: Actor) -> None:
        start.wait()
        try:
            results.append(send_draft(settings, db, SendOrder(draft, batch_size=3), actor))
        except BaseException as exc:  # the test asserts which one below
            results.append(exc)

    threads = [threading.Thread(target=send, args=(Actor("user", f"sender{n}@example.com", Role.SENDER),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [result for result in results if isinstance(result, CreatedCampaign)]
    refused = [result for result in results if isinstance(result, DraftConflict)]
    assert len(sent) == 1 and len(refused) == 1, results
    assert deliveries_of(db, draft) == len(audience) == sent[0].recipients
    sends = [entry for entry in audit.entries(db, draft) if entry.action == audit.Action.SENT]
    assert len(sends) == 1


def test_a_draft_with_lint_errors_is_refused_unless_forced(settings: Settings, db: Database, tmp_path: Path) -> None:
    people(db)
    draft = save_draft(settings, db, insecure_image_recap(tmp_path).read_text(encoding="utf-8"))
    with pytest.raises(LintRefused) as refused:
        send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)
    assert refused.value.findings and all(finding["severity"] == "error" for finding in refused.value.findings)
    assert status_of(db, draft) is CampaignStatus.DRAFT and deliveries_of(db, draft) == 0
    send_draft(settings, db, SendOrder(draft, batch_size=10, force=True), CLI_ACTOR)
    assert status_of(db, draft) is CampaignStatus.SENDING
    assert "forced" in next(entry.detail for entry in audit.entries(db, draft) if entry.action == audit.Action.SENT)


def test_a_draft_sent_for_later_is_scheduled_and_released_when_due(settings: Settings, db: Database) -> None:
    people(db)
    draft = save_draft(settings, db)
    send_at = utcnow() + dt.timedelta(hours=2)
    created = send_draft(settings, db, SendOrder(draft, batch_size=10, send_at=send_at), CLI_ACTOR)
    assert created.scheduled and status_of(db, draft) is CampaignStatus.SCHEDULED
    assert [entry.action for entry in audit.entries(db, draft)][:1] == [audit.Action.SCHEDULED]
    release_due(db, LEASE, now=send_at - dt.timedelta(minutes=1))
    assert status_of(db, draft) is CampaignStatus.SCHEDULED
    release_due(db, LEASE, now=send_at)
    assert status_of(db, draft) is CampaignStatus.SENDING


def test_the_sweep_never_releases_a_draft(settings: Settings, db: Database) -> None:
    people(db)
    draft = save_draft(settings, db)
    with db.transaction() as session:
        # Even with a send time long past: only a scheduled campaign is released.
        session.execute(update(Campaign).where(Campaign.id == draft).values(send_at=utcnow() - dt.timedelta(days=1)))
    assert release_due(db, LEASE, now=utcnow() + dt.timedelta(days=1)) == []
    assert status_of(db, draft) is CampaignStatus.DRAFT
    assert deliveries_of(db, draft) == 0


def test_pause_resume_and_cancel_refuse_a_draft(settings: Settings, db: Database) -> None:
    people(db)
    draft = save_draft(settings, db)
    for action in (control.pause, control.resume, control.cancel):
        with pytest.raises(control.ControlError, match="draft"):
            action(db, draft)
    assert status_of(db, draft) is CampaignStatus.DRAFT


def test_a_draft_shows_in_status_with_nothing_open(settings: Settings, db: Database) -> None:
    people(db)
    draft = save_draft(settings, db)
    (progress,) = campaign_progress(db, draft)
    assert progress.status == "draft"
    assert progress.total == 0 and progress.open == 0
    # `status --wait` returns at once: a draft has nothing pending or sending to wait for.
    assert progress.finished


def test_creating_and_sending_a_draft_are_in_the_audit_log_with_actor_and_campaign(settings: Settings, db: Database) -> None:
    people(db)
    editor = Actor("user", "editor@example.com", Role.EDITOR, ip="192.0.2.7")
    draft = save_draft(settings, db, actor=editor)
    send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)
    logged = {entry.action: entry for entry in audit.entries(db, campaign_id=draft)}
    assert logged[audit.Action.CREATED].actor == "user:editor@example.com"
    assert logged[audit.Action.CREATED].ip == "192.0.2.7"
    assert logged[audit.Action.SENT].actor == "cli"
    assert logged[audit.Action.SENT].target == "attendees"
    assert all(entry.campaign_id == draft for entry in logged.values())
    with db.transaction() as session:
        assert session.scalar(select(Campaign.created_by).where(Campaign.id == draft)) == "user:editor@example.com"
