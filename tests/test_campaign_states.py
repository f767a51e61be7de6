"""The transition table of publisher.ledger.states is the truth: the code makes exactly its transitions and refuses the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select, text, update

from publisher.accounts.roles import CLI_ACTOR
from publisher.audience.subscribers import import_subscribers
from publisher.content.drafting import lint_draft
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState
from publisher.ledger import control, states
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign
from publisher.ledger.claims import claim_batch, pause_campaign, record_results
from publisher.ledger.dispatch import release_due
from publisher.ledger.drafts import DraftContent, SendOrder, create_draft, send_draft
from publisher.ledger.states import INITIAL, TRANSITIONS, Event, TransitionError
from tests.support.paths import EXAMPLES

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"
LEASE = dt.timedelta(minutes=5)
ALL = list(CampaignStatus)
SCHEDULED, SENDING, PAUSED = CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED
COMPLETE, CANCELLED = CampaignStatus.COMPLETE, CampaignStatus.CANCELLED

#: Each operation on a loaded campaign, and the event it is.
OPERATIONS: dict[Event, Callable[[Campaign], None]] = {
    Event.PAUSE: lambda campaign: states.pause(campaign, "a test"),
    Event.RESUME: states.resume,
    Event.CANCEL: states.cancel,
    Event.REOPEN: states.reopen,
}


def loaded(status: CampaignStatus) -> Campaign:
    return Campaign(id=7, status=status, send_at=None, released_at=None)


def test_every_status_is_reached_and_only_reopen_leaves_complete_and_nothing_leaves_cancelled() -> None:
    reached = INITIAL | {target for _, target in TRANSITIONS}
    assert reached == set(CampaignStatus)
    assert {edge: event for edge, event in TRANSITIONS.items() if edge[0] == COMPLETE} == {(COMPLETE, SENDING): Event.REOPEN}
    assert not [edge for edge in TRANSITIONS if edge[0] == CANCELLED]
    assert [edge for edge, event in TRANSITIONS.items() if event == Event.COMPLETE] == [(SENDING, COMPLETE)]


def test_a_new_campaign_starts_scheduled_or_sending() -> None:
    assert states.initial_status(scheduled=True) == SCHEDULED
    assert states.initial_status(scheduled=False) == SENDING


@pytest.mark.parametrize("event", list(OPERATIONS))
@pytest.mark.parametrize("source", ALL)
def test_an_operation_makes_a_transition_of_the_table_or_raises(source: CampaignStatus, event: Event) -> None:
    campaign = loaded(source)
    allowed = states.allows(source, event)
    if not allowed and not (event == Event.REOPEN and source in (SENDING, PAUSED, SCHEDULED)):
        with pytest.raises(TransitionError):
            OPERATIONS[event](campaign)
        assert campaign.status == source
        return
    OPERATIONS[event](campaign)
    if campaign.status != source:
        assert TRANSITIONS[(source, campaign.status)] == event
    else:
        # Reopening a campaign that never finished leaves it as it is.
        assert event == Event.REOPEN and not allowed


@pytest.mark.parametrize(
    ("source", "operation"),
    [
        (COMPLETE, states.resume),
        (CANCELLED, states.resume),
        (CANCELLED, states.reopen),
        (COMPLETE, states.cancel),
        (CANCELLED, states.cancel),
        (COMPLETE, lambda campaign: states.pause(campaign, "a test")),
    ],
)
def test_forbidden_transitions_raise(source: CampaignStatus, operation: Callable[[Campaign], None]) -> None:
    campaign = loaded(source)
    with pytest.raises(TransitionError, match=f"campaign 7 is {source.value}"):
        operation(campaign)
    assert campaign.status == source


def test_resume_before_send_at_is_scheduled_again_and_after_it_sending() -> None:
    now = utcnow()
    early = Campaign(id=1, status=PAUSED, send_at=now + dt.timedelta(hours=1), released_at=None, pause_reason="x")
    states.resume(early, now)
    assert (early.status, early.pause_reason, early.released_at) == (SCHEDULED, None, None)
    late = Campaign(id=2, status=PAUSED, send_at=now - dt.timedelta(hours=1), released_at=None, pause_reason="x")
    states.resume(late, now)
    assert (late.status, late.pause_reason, late.released_at) == (SENDING, None, now)


def publish(settings: Settings, db: Database, send_at: dt.datetime | None = None) -> CreatedCampaign:
    plan = CampaignPlan(recap=load_recap(RECAP), list_name="attendees", provider="outbox", batch_size=10, send_at=send_at)
    return create_campaign(settings, db, plan)


def write_draft(settings: Settings, db: Database) -> int:
    recap = load_recap(RECAP)
    content = DraftContent(recap, RECAP.read_text(), "attendees", "outbox", lint_draft(settings, recap))
    return create_draft(settings, db, content, CLI_ACTOR)


def record_status_changes(db: Database) -> None:
    """Have SQLite log every status a campaign is written with or moved to, whoever writes it."""
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE status_log (seq INTEGER PRIMARY KEY, campaign_id INTEGER, old TEXT, new TEXT)"))
        connection.execute(
            text(
                "CREATE TRIGGER log_insert AFTER INSERT ON campaigns BEGIN "
                "INSERT INTO status_log (campaign_id, old, new) VALUES (new.id, NULL, new.status); END"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER log_update AFTER UPDATE OF status ON campaigns WHEN old.status IS NOT new.status BEGIN "
                "INSERT INTO status_log (campaign_id, old, new) VALUES (new.id, old.status, new.status); END"
            )
        )


def status_changes(db: Database) -> list[tuple[str | None, str]]:
    with db.engine.connect() as connection:
        return [(row[0], row[1]) for row in connection.execute(text("SELECT old, new FROM status_log ORDER BY seq"))]


def fail_for_good(db: Database, campaign_id: int) -> None:
    with db.transaction() as session:
        session.execute(
            update(Delivery).where(Delivery.campaign_id == campaign_id).values(state=DeliveryState.FAILED, dead_lettered_at=utcnow())
        )


def send_everything(db: Database, created: CreatedCampaign) -> None:
    for batch_id in created.batch_ids:
        claim = claim_batch(db, batch_id, LEASE, "outbox", idempotent=False)
        assert claim is not None
        record_results(db, claim, [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"m{d.id}") for d in claim.deliveries], 3)


def status_of(db: Database, campaign_id: int) -> CampaignStatus:
    with db.transaction() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        assert status is not None
        return status


@SQLITE_ONLY
def test_the_code_makes_exactly_the_transitions_of_the_table(settings: Settings, db: Database) -> None:
    record_status_changes(db)
    import_subscribers(db, EXAMPLES / "subscribers.csv", "attendees")
    send_at = utcnow() + dt.timedelta(hours=1)

    issue = publish(settings, db, send_at)
    control.pause(db, issue.id)  # scheduled → paused
    control.resume(db, issue.id)  # paused → scheduled: not due yet
    release_due(db, LEASE, now=send_at)  # scheduled → sending
    pause_campaign(db, issue.id, "the provider's quota ran out")  # sending → paused, by a worker
    control.resume(db, issue.id)  # paused → sending
    fail_for_good(db, issue.id)
    release_due(db, LEASE, now=send_at)  # sending → complete, by the sweep's backstop
    control.replay(db, issue.id)  # complete → sending (reopen)
    send_everything(db, issue)  # sending → complete, by the workers
    assert status_of(db, issue.id) == COMPLETE

    for operator_action in (control.pause, control.resume, control.cancel):
        with pytest.raises(control.ControlError):
            operator_action(db, issue.id)

    control.cancel(db, publish(settings, db).id)  # sending → cancelled
    control.cancel(db, publish(settings, db, send_at).id)  # scheduled → cancelled
    paused = publish(settings, db, send_at)
    control.pause(db, paused.id)
    control.cancel(db, paused.id)  # paused → cancelled

    draft = write_draft(settings, db)
    for operator_action in (control.pause, control.resume, control.cancel):
        with pytest.raises(control.ControlError):
            operator_action(db, draft)
    send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)  # draft → sending
    send_draft(settings, db, SendOrder(write_draft(settings, db), batch_size=10, send_at=send_at), CLI_ACTOR)  # draft → scheduled

    changes = status_changes(db)
    assert {new for old, new in changes if old is None} <= set(INITIAL)
    made = {(CampaignStatus(old), CampaignStatus(new)) for old, new in changes if old is not None}
    assert made == set(TRANSITIONS)


@SQLITE_ONLY
def test_set_based_moves_touch_only_their_source_status(settings: Settings, db: Database) -> None:
    import_subscribers(db, EXAMPLES / "subscribers.csv", "attendees")
    now = utcnow()
    due = publish(settings, db, now + dt.timedelta(minutes=1))
    later = publish(settings, db, now + dt.timedelta(hours=1))
    paused = publish(settings, db)
    control.pause(db, paused.id)

    with db.transaction() as session:
        assert states.release_due(session, now + dt.timedelta(minutes=2)) == [due.id]
        assert not states.pause_sending(session, later.id, "a halt")  # scheduled: the workers leave it be
        assert not states.pause_sending(session, paused.id, "a halt")
        assert not states.complete_if_done(session, paused.id)  # paused: resume decides it
    assert [status_of(db, c.id) for c in (due, later, paused)] == [SENDING, SCHEDULED, PAUSED]
