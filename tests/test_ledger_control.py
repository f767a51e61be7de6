"""Ledger recovery and operator control, in-process: in-doubt records, deferred retries, sweeps, pause/resume/cancel, dead letters.

Leases and deferrals are compared with the Python clock (``utcnow``), so the
tests move that clock past them (time-machine) instead of sleeping: a lease
of a minute runs out at once, and no verdict depends on how busy the machine is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update
from time_machine import TimeMachineFixture

from publisher.core.settings import Settings
from publisher.db.models import Batch, Campaign, CampaignStatus, Delivery, DeliveryState
from publisher.ledger import control
from publisher.ledger.campaigns import CreatedCampaign
from publisher.ledger.claims import claim_batch
from publisher.ledger.dispatch import defer_batch, mark_enqueued, release_due
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.campaigns import publish, publish_to_attendees
from workers.delivery.batch import deliver_batch, lease_for
from workers.delivery.context import WorkerContext
from workers.runtime import build_context

LEASE = dt.timedelta(seconds=60)
#: Past the end of a lease claimed just before.
PAST_THE_LEASE = LEASE + dt.timedelta(seconds=1)
DEFERRAL = 30.0


@pytest.fixture
def ctx(settings: Settings, fake_provider: FakeProviders, redis_client: redis.Redis, tmp_path: Path) -> Iterator[WorkerContext]:
    configured = settings.model_copy(
        update={
            "provider": "postmark",
            "postmark_api_key": TOKEN,
            "postmark_base_url": fake_provider.base_url,
            "batch_size": 10,
            "http_timeout": 2.0,
            "lease_seconds": LEASE.total_seconds(),
        }
    )
    context = build_context(configured)
    yield context
    context.close()


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """The clock, still running, that a test moves past a lease or a deferral instead of waiting for it."""
    time_machine.move_to(dt.datetime.now(dt.UTC))
    return time_machine


def publish_enqueued(ctx: WorkerContext) -> CreatedCampaign:
    """Publish to the attendees with every batch marked enqueued, as `newsletter publish` leaves them."""
    created = publish_to_attendees(ctx.settings, ctx.db)
    mark_enqueued(ctx.db, created.batch_ids)
    return created


def counts(ctx: WorkerContext, campaign_id: int) -> dict[DeliveryState, int]:
    with ctx.db.transaction() as session:
        states = session.scalars(select(Delivery.state).where(Delivery.campaign_id == campaign_id)).all()
    return {state: states.count(state) for state in set(states)}


def campaign_status(ctx: WorkerContext, campaign_id: int) -> Campaign:
    with ctx.db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


def test_lease_is_longer_than_a_provider_call(ctx: WorkerContext) -> None:
    assert lease_for(ctx) >= dt.timedelta(seconds=6 * ctx.settings.http_timeout)


@pytest.mark.timing
def test_a_worker_lost_mid_call_leaves_records_in_doubt_not_resent(
    ctx: WorkerContext, fake_provider: FakeProviders, clock: TimeMachineFixture
) -> None:
    campaign = publish_enqueued(ctx)
    batch = campaign.batch_ids[0]
    claim = claim_batch(ctx.db, batch, LEASE, "postmark", idempotent=False)
    assert claim is not None and len(claim.deliveries) == 10  # ...and then the worker died
    assert deliver_batch(ctx, batch, max_countdown=60).sent == 0  # within the lease: not touched
    assert counts(ctx, campaign.id) == {DeliveryState.SENDING: 10, DeliveryState.PENDING: 15}
    clock.shift(PAST_THE_LEASE)
    assert deliver_batch(ctx, batch, max_countdown=60).sent == 0
    assert counts(ctx, campaign.id)[DeliveryState.IN_DOUBT] == 10
    assert fake_provider.calls_to("postmark") == []
    assert control.reconcile(ctx.db, campaign.id, resend=True) == 10
    assert deliver_batch(ctx, batch, max_countdown=60).sent == 10


@pytest.mark.timing
def test_in_doubt_records_can_be_accepted_as_sent(ctx: WorkerContext, clock: TimeMachineFixture) -> None:
    campaign = publish_enqueued(ctx)
    claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=False)
    clock.shift(PAST_THE_LEASE)
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    assert control.reconcile(ctx.db, campaign.id, resend=False) == 10
    assert counts(ctx, campaign.id)[DeliveryState.SENT] == 10


@pytest.mark.timing
def test_an_idempotent_provider_takes_expired_records_again(ctx: WorkerContext, clock: TimeMachineFixture) -> None:
    campaign = publish_enqueued(ctx)
    claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=True)
    during = claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=True)
    assert during is not None and during.deliveries == []  # another worker's lease still holds them
    clock.shift(PAST_THE_LEASE)
    again = claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=True)
    assert again is not None and len(again.deliveries) == 10
    assert all(delivery.attempts == 2 for delivery in again.deliveries)


@pytest.mark.timing
def test_the_sweep_finds_batches_of_dead_workers_deferred_retries_and_never_enqueued(ctx: WorkerContext, clock: TimeMachineFixture) -> None:
    campaign = publish_enqueued(ctx)
    first, second, third = campaign.batch_ids[:3]
    assert release_due(ctx.db, LEASE) == []
    claim_batch(ctx.db, first, LEASE, "postmark", idempotent=False)
    defer_batch(ctx.db, second, DEFERRAL)
    with ctx.db.transaction() as session:
        session.execute(update(Batch).where(Batch.id == third).values(enqueued_at=None))
    assert [b.batch_id for b in release_due(ctx.db, LEASE)] == [third]
    clock.shift(DEFERRAL + 1)  # the deferred retry is due; the lease still holds
    assert [b.batch_id for b in release_due(ctx.db, LEASE)] == [second, third]
    clock.shift(PAST_THE_LEASE)
    assert [b.batch_id for b in release_due(ctx.db, LEASE)] == [first, second, third]


def test_pause_stops_claims_and_resume_requeues_without_duplicates(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_enqueued(ctx)
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    control.pause(ctx.db, campaign.id)
    assert deliver_batch(ctx, campaign.batch_ids[1], max_countdown=60).sent == 0
    assert campaign_status(ctx, campaign.id).pause_reason == control.OPERATOR_PAUSE
    control.resume(ctx.db, campaign.id)
    due = [b.batch_id for b in release_due(ctx.db, LEASE)]
    assert due == campaign.batch_ids[1:]
    for batch in due + campaign.batch_ids:  # every batch twice over: duplicates on the queue are harmless
        deliver_batch(ctx, batch, max_countdown=60)
    recipients = fake_provider.recipients()
    assert len(recipients) == len(set(recipients)) == 25
    assert campaign_status(ctx, campaign.id).status == CampaignStatus.COMPLETE


def test_cancel_marks_the_rest_cancelled(ctx: WorkerContext) -> None:
    campaign = publish_enqueued(ctx)
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    assert control.cancel(ctx.db, campaign.id) == 15
    assert deliver_batch(ctx, campaign.batch_ids[1], max_countdown=60).sent == 0
    assert counts(ctx, campaign.id) == {DeliveryState.SENT: 10, DeliveryState.CANCELLED: 15}
    with pytest.raises(control.ControlError, match="already cancelled"):
        control.cancel(ctx.db, campaign.id)


def test_exhausted_retries_go_to_the_dead_letter_list_and_replay(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    ctx.settings = ctx.settings.model_copy(update={"max_attempts": 1})
    campaign = publish_enqueued(ctx)
    fake_provider.faults.error_rate = 1.0
    assert deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60).failed == 10
    letters, total = control.dead_letters(ctx.db, campaign.id)
    assert total == 10 and "gave up after 1 attempts" in (letters[0].last_error or "")
    fake_provider.faults.error_rate = 0.0
    assert control.replay(ctx.db, campaign.id) == 10
    assert deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60).sent == 10
    assert control.dead_letters(ctx.db, campaign.id)[1] == 0


def test_a_campaign_pauses_itself_when_too_many_records_fail(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    ctx.settings = ctx.settings.model_copy(update={"error_pause_minimum": 10, "error_pause_rate": 0.3})
    campaign = publish_enqueued(ctx)
    with ctx.db.transaction() as session:
        first_batch = session.scalars(select(Delivery.email).where(Delivery.batch_id == campaign.batch_ids[0])).all()
    for address in first_batch[:4]:
        fake_provider.faults.reject[address] = (406, "Inactive recipient")
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    stored = campaign_status(ctx, campaign.id)
    assert stored.status == CampaignStatus.PAUSED
    assert "40% of 10 finished records failed" in (stored.pause_reason or "")


def test_an_inactive_recipient_is_suppressed_and_never_mailed_again(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    from publisher.db.models import Suppression

    campaign = publish_enqueued(ctx)
    with ctx.db.transaction() as session:
        first = session.scalars(select(Delivery.email).where(Delivery.batch_id == campaign.batch_ids[0]).order_by(Delivery.id)).first()
    assert first is not None
    fake_provider.faults.reject[first] = (406, "You tried to send to a recipient that has been marked as inactive.")
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    with ctx.db.transaction() as session:
        suppressed = session.scalars(select(Suppression)).all()
        assert [(s.email, s.list_id, s.source) for s in suppressed] == [(first, None, "provider:postmark")]
    fake_provider.faults.reject.clear()
    second = publish(ctx.settings, ctx.db)
    assert second.recipients == 24  # left out of the next audience
    with ctx.db.transaction() as session:
        assert session.scalar(select(Delivery.id).where(Delivery.campaign_id == second.id, Delivery.email == first)) is None


@pytest.mark.timing
def test_the_sweep_enqueues_pending_batches_whose_message_is_gone(
    ctx: WorkerContext, redis_client: redis.Redis, clock: TimeMachineFixture
) -> None:
    from publisher.queue import dispatch_due, mark_queued

    campaign = publish_enqueued(ctx)
    assert release_due(ctx.db, LEASE) == []  # enqueued within a lease: its message is presumably on the queue
    clock.shift(PAST_THE_LEASE)
    stale = release_due(ctx.db, LEASE)
    assert [b.batch_id for b in stale] == campaign.batch_ids
    assert all(b.unless_queued for b in stale)
    mark_queued(redis_client, campaign.batch_ids[:2])  # these two still have a message on the queue
    url = str(ctx.settings.redis_url)
    assert dispatch_due(ctx.settings, ctx.db, url) == len(campaign.batch_ids) - 2
    # The others were just enqueued again; the two with a message stay candidates only.
    assert [b.batch_id for b in release_due(ctx.db, LEASE)] == campaign.batch_ids[:2]


@pytest.mark.timing
def test_a_lost_answer_puts_records_in_doubt_instead_of_resending(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_enqueued(ctx)
    fake_provider.faults.hang = 1
    fake_provider.faults.hang_seconds = 10.0  # far past the 2 s HTTP timeout: the request went out, the answer did not come
    outcome = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    assert outcome.sent == 0
    assert counts(ctx, campaign.id)[DeliveryState.IN_DOUBT] == 10


def test_resume_completes_a_campaign_that_finished_while_paused(ctx: WorkerContext) -> None:
    campaign = publish_enqueued(ctx)
    for batch in campaign.batch_ids:
        deliver_batch(ctx, batch, max_countdown=60)
    with ctx.db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.PAUSED))
    control.resume(ctx.db, campaign.id)
    assert campaign_status(ctx, campaign.id).status == CampaignStatus.COMPLETE


def test_results_arriving_after_cancel_do_not_reopen_records(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_enqueued(ctx)
    claim = claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=False)
    assert claim is not None
    control.cancel(ctx.db, campaign.id)
    from publisher.core.outcomes import Outcome, SendResult
    from publisher.ledger.claims import record_results

    record_results(ctx.db, claim, [SendResult(d.id, Outcome.TRANSIENT, error="503") for d in claim.deliveries], 5)
    assert counts(ctx, campaign.id) == {DeliveryState.CANCELLED: 25}


def test_a_campaign_for_a_provider_the_workers_cannot_use_is_paused_with_the_reason(ctx: WorkerContext) -> None:
    campaign = publish_to_attendees(ctx.settings, ctx.db, provider="sendgrid")
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    stored = campaign_status(ctx, campaign.id)
    assert stored.status == CampaignStatus.PAUSED
    assert "NEWSLETTER_SENDGRID_API_KEY" in (stored.pause_reason or "")


def test_a_resumed_campaign_is_judged_on_what_happens_after_the_resume(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    ctx.settings = ctx.settings.model_copy(update={"error_pause_minimum": 10, "error_pause_rate": 0.15})
    campaign = publish_enqueued(ctx)
    with ctx.db.transaction() as session:
        first_batch = session.scalars(select(Delivery.email).where(Delivery.batch_id == campaign.batch_ids[0])).all()
    for address in first_batch[:4]:
        fake_provider.faults.reject[address] = (300, "Invalid email request")
    deliver_batch(ctx, campaign.batch_ids[0], max_countdown=60)
    assert campaign_status(ctx, campaign.id).status == CampaignStatus.PAUSED
    control.resume(ctx.db, campaign.id)
    # After the fix one record of the next ten fails: 10 % since the resume
    # (under the threshold), though 25 % of the campaign so far.
    with ctx.db.transaction() as session:
        second_batch = session.scalars(select(Delivery.email).where(Delivery.batch_id == campaign.batch_ids[1])).all()
    fake_provider.faults.reject[second_batch[0]] = (300, "Invalid email request")
    deliver_batch(ctx, campaign.batch_ids[1], max_countdown=60)
    assert campaign_status(ctx, campaign.id).status == CampaignStatus.SENDING


def test_every_outcome_of_one_call_is_recorded_on_its_own_record(ctx: WorkerContext) -> None:
    """Results are written a group at a time; each record still ends exactly as its own outcome says."""
    from publisher.core.outcomes import Outcome, SendResult
    from publisher.core.signals import Halt
    from publisher.db.models import Suppression
    from publisher.ledger.claims import record_results

    campaign = publish_enqueued(ctx)
    with ctx.db.transaction() as session:
        ids = session.scalars(select(Delivery.id).where(Delivery.batch_id == campaign.batch_ids[0]).order_by(Delivery.id)).all()
        # One record about to make its last attempt.
        session.execute(update(Delivery).where(Delivery.id == ids[4]).values(attempts=2))
    claim = claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=False)
    assert claim is not None and [delivery.id for delivery in claim.deliveries] == ids
    with ctx.db.transaction() as session:
        # One taken over by another worker after its lease ran out.
        session.execute(update(Delivery).where(Delivery.id == ids[7]).values(state=DeliveryState.PENDING))
    results = [
        SendResult(ids[0], Outcome.ACCEPTED, provider_message_id="pm-0"),
        SendResult(ids[1], Outcome.ACCEPTED, provider_message_id="pm-1"),
        SendResult(ids[2], Outcome.PERMANENT, error="bad mailbox"),
        SendResult(ids[3], Outcome.PERMANENT, error="inactive", suppress=True),
        SendResult(ids[4], Outcome.TRANSIENT, error="busy"),
        SendResult(ids[5], Outcome.TRANSIENT, error="busy", retry_after=7.0),
        SendResult(ids[6], Outcome.TRANSIENT, error="quota used up", halt=Halt.QUOTA),
        SendResult(ids[7], Outcome.ACCEPTED, provider_message_id="pm-7"),
        SendResult(ids[8], Outcome.TRANSIENT, error="read timeout", maybe_sent=True),
        SendResult(ids[9], Outcome.ACCEPTED, provider_message_id="pm-9"),
    ]
    summary = record_results(ctx.db, claim, results, max_attempts=3)
    assert (summary.sent, summary.failed, summary.retrying, summary.retry_after, summary.max_attempts_seen) == (3, 3, 2, 7.0, 3)
    with ctx.db.transaction() as session:
        rows = {row.id: row for row in session.execute(select(Delivery).where(Delivery.id.in_(ids))).scalars()}
        suppressed = session.scalars(select(Suppression.email)).all()
    expected = {
        0: (DeliveryState.SENT, 1, None, "pm-0"),
        1: (DeliveryState.SENT, 1, None, "pm-1"),
        2: (DeliveryState.FAILED, 1, "bad mailbox", None),
        3: (DeliveryState.FAILED, 1, "inactive", None),
        4: (DeliveryState.FAILED, 3, "busy (gave up after 3 attempts)", None),
        5: (DeliveryState.PENDING, 1, "busy", None),
        6: (DeliveryState.PENDING, 0, "quota used up", None),
        7: (DeliveryState.PENDING, 1, None, None),  # not ours any more: untouched
        8: (DeliveryState.IN_DOUBT, 1, "read timeout; it may have been sent: see `newsletter reconcile`", None),
        9: (DeliveryState.SENT, 1, None, "pm-9"),
    }
    for index, (state, attempts, error, provider_id) in expected.items():
        row = rows[ids[index]]
        assert (row.state, row.attempts, row.last_error, row.provider_message_id) == (state, attempts, error, provider_id), index
        assert (row.sent_at is not None) == (state == DeliveryState.SENT), index
        assert (row.dead_lettered_at is not None) == (index == 4), index
        if index != 7:
            assert row.lease_until is None, index
    assert rows[ids[7]].lease_until is not None
    assert suppressed == [rows[ids[3]].email]


@pytest.mark.timing
def test_results_of_a_claim_taken_over_after_its_lease_leave_the_new_claim_alone(ctx: WorkerContext, clock: TimeMachineFixture) -> None:
    """A worker whose lease ran out answers late: the records are ``sending`` again, but under another claim, whose results count."""
    from publisher.core.outcomes import Outcome, SendResult
    from publisher.ledger.claims import record_results

    campaign = publish_enqueued(ctx)
    batch = campaign.batch_ids[0]
    late = claim_batch(ctx.db, batch, LEASE, "postmark", idempotent=True)
    clock.shift(PAST_THE_LEASE)
    current = claim_batch(ctx.db, batch, LEASE, "postmark", idempotent=True)
    assert late is not None and current is not None
    assert [d.id for d in current.deliveries] == [d.id for d in late.deliveries]
    late_results = [SendResult(d.id, Outcome.TRANSIENT, error="late answer") for d in late.deliveries]
    summary = record_results(ctx.db, late, late_results, max_attempts=3, idempotent=True)
    assert (summary.sent, summary.failed, summary.retrying) == (0, 0, 0)
    assert counts(ctx, campaign.id) == {DeliveryState.SENDING: 10, DeliveryState.PENDING: 15}
    with ctx.db.transaction() as session:
        untouched = session.execute(select(Delivery.last_error, Delivery.lease_until).where(Delivery.batch_id == batch)).all()
    assert all(error is None and lease is not None for error, lease in untouched)
    results = [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"pm-{d.id}") for d in current.deliveries]
    assert record_results(ctx.db, current, results, max_attempts=3, idempotent=True).sent == 10
    assert counts(ctx, campaign.id) == {DeliveryState.SENT: 10, DeliveryState.PENDING: 15}


@pytest.mark.timing
def test_a_provider_call_renews_the_lease_once_a_tenth_of_it_has_gone(
    ctx: WorkerContext, fake_provider: FakeProviders, clock: TimeMachineFixture
) -> None:
    """A call straight after the claim keeps the claim's lease; a later one starts with a whole lease again."""
    from publisher.content.rendering.layout import RenderedIssue
    from publisher.core.clock import utcnow
    from workers.delivery.batch import _send_chunks, compose

    campaign = publish_enqueued(ctx)
    lease = lease_for(ctx)
    claim = claim_batch(ctx.db, campaign.batch_ids[0], lease, "postmark", idempotent=False)
    assert claim is not None and len(claim.deliveries) == 10
    snapshot = claim.campaign
    issue = RenderedIssue(html=snapshot.html_template, text=snapshot.text_template, nonce=snapshot.nonce)
    emails = [compose(ctx, snapshot, issue, delivery) for delivery in claim.deliveries]

    def leases() -> list[dt.datetime | None]:
        with ctx.db.reading() as session:
            return list(
                session.scalars(select(Delivery.lease_until).where(Delivery.batch_id == campaign.batch_ids[0]).order_by(Delivery.id))
            )

    clock.shift(lease * 0.05)
    results, given_back = _send_chunks(ctx, ctx.provider("postmark"), "early", emails[:5], claim)
    assert (len(results), given_back) == (5, 0)
    assert leases() == [claim.lease_until] * 10
    clock.shift(lease * 0.1)
    before = utcnow()
    results, given_back = _send_chunks(ctx, ctx.provider("postmark"), "late", emails[5:], claim)
    assert (len(results), given_back) == (5, 0)
    renewed = leases()
    assert renewed[:5] == [claim.lease_until] * 5
    assert all(until is not None and until >= before + lease for until in renewed[5:])


def test_a_call_after_the_longest_rate_limit_waits_never_lets_its_records_lease_run_out(
    ctx: WorkerContext, fake_provider: FakeProviders, clock: TimeMachineFixture
) -> None:
    """The booking and the admission may each wait half a lease: the lease is renewed before each, never lapses between."""
    from typing import Any

    from publisher.content.rendering.issue import RenderedIssue
    from publisher.core.clock import utcnow
    from workers.delivery.batch import _send_chunks, compose

    paced = build_context(ctx.settings.model_copy(update={"postmark_requests_per_second": 100.0}))
    campaign = publish_enqueued(paced)
    lease = lease_for(paced)
    claim = claim_batch(paced.db, campaign.batch_ids[0], lease, "postmark", idempotent=False)
    assert claim is not None
    issue = RenderedIssue(html=claim.campaign.html_template, text=claim.campaign.text_template, nonce=claim.campaign.nonce)
    emails = [compose(paced, claim.campaign, issue, delivery) for delivery in claim.deliveries]
    held: list[bool] = []

    def still_held() -> None:
        with paced.db.reading() as session:
            leases = session.scalars(select(Delivery.lease_until).where(Delivery.batch_id == campaign.batch_ids[0]))
            held.append(all(until is not None and until > utcnow() for until in leases))

    reserve, admit = paced.limiter.reserve, paced.limiter.admit

    def waiting(wait: Any) -> Any:
        def waited(*args: Any, **kwargs: Any) -> Any:
            clock.shift(lease / 2)
            still_held()
            return wait(*args, **kwargs)

        return waited

    paced.limiter.reserve = waiting(reserve)  # type: ignore[method-assign]
    paced.limiter.admit = waiting(admit)  # type: ignore[method-assign]
    try:
        results, given_back = _send_chunks(paced, paced.provider("postmark"), "slow", emails, claim)
    finally:
        paced.close()
    assert (len(results), given_back) == (10, 0)
    assert held == [True, True]


@pytest.mark.timing
def test_a_claim_sets_aside_suppressed_unsubscribed_and_lost_records_each_with_its_reason(
    ctx: WorkerContext, clock: TimeMachineFixture
) -> None:
    from publisher.audience.suppressions import suppress_address
    from publisher.db.models import Subscription, SubscriptionStatus
    from publisher.ledger.claims import IN_DOUBT_REASON

    campaign = publish_enqueued(ctx)
    batch = campaign.batch_ids[0]
    first = claim_batch(ctx.db, batch, LEASE, "postmark", idempotent=True)
    assert first is not None and len(first.deliveries) == 10
    suppressed, unsubscribed, open_, *held = first.deliveries
    with ctx.db.transaction() as session:
        # Three records never went out (given back), and then two of them may not be mailed any more.
        ids = [suppressed.id, unsubscribed.id, open_.id]
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(state=DeliveryState.PENDING, attempts=0, lease_until=None))
        suppress_address(session, suppressed.email, "complained elsewhere", "operator")
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == unsubscribed.subscriber_id, Subscription.list_id == first.campaign.list_id)
            .values(status=SubscriptionStatus.UNSUBSCRIBED)
        )
    clock.shift(PAST_THE_LEASE)
    # Another provider cannot answer the first one's keys: its expired records are in doubt.
    claim = claim_batch(ctx.db, batch, LEASE, "resend", idempotent=True)
    assert claim is not None and [d.id for d in claim.deliveries] == [open_.id]
    with ctx.db.transaction() as session:
        rows = {row.id: row for row in session.execute(select(Delivery.id, Delivery.state, Delivery.last_error, Delivery.lease_until))}
    assert (rows[suppressed.id].state, rows[suppressed.id].last_error) == (DeliveryState.SUPPRESSED, "on the suppression list")
    assert (rows[unsubscribed.id].state, rows[unsubscribed.id].last_error) == (DeliveryState.SUPPRESSED, "unsubscribed before sending")
    assert rows[open_.id].state == DeliveryState.SENDING
    for delivery in held:
        assert (rows[delivery.id].state, rows[delivery.id].last_error, rows[delivery.id].lease_until) == (
            DeliveryState.IN_DOUBT,
            IN_DOUBT_REASON,
            None,
        )


def test_results_after_cancel_keep_what_was_accepted_and_cancel_the_rest_without_dead_letters(ctx: WorkerContext) -> None:
    from publisher.core.outcomes import Outcome, SendResult
    from publisher.ledger.claims import record_results

    campaign = publish_enqueued(ctx)
    claim = claim_batch(ctx.db, campaign.batch_ids[0], LEASE, "postmark", idempotent=False)
    assert claim is not None
    control.cancel(ctx.db, campaign.id)
    accepted, given_up, *rest = claim.deliveries
    results = [
        SendResult(accepted.id, Outcome.ACCEPTED, provider_message_id="pm-1"),
        SendResult(given_up.id, Outcome.TRANSIENT, error="503"),  # its last attempt: dead-lettered were it not cancelled
        *(SendResult(d.id, Outcome.PERMANENT, error="bad address") for d in rest),
    ]
    summary = record_results(ctx.db, claim, results, max_attempts=1)
    assert (summary.sent, summary.failed, summary.retrying) == (1, 0, 0)
    with ctx.db.transaction() as session:
        records = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.batch_id == campaign.batch_ids[0]))}
    assert records[accepted.id].state == DeliveryState.SENT and records[accepted.id].provider_message_id == "pm-1"
    assert records[given_up.id].state == DeliveryState.CANCELLED and records[given_up.id].dead_lettered_at is None
    assert records[given_up.id].last_error == "campaign cancelled; last answer: 503"
    assert {records[d.id].state for d in rest} == {DeliveryState.CANCELLED}
