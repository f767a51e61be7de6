"""A claim renews or gives back only the records it still holds, never those another claim took over after its lease ran out.

A worker whose lease ran out mid-batch may still be running (a slow provider
call, a long rate-limit wait). Its records, claimed again by another worker
under the next attempt, are that worker's: a late renewal would stretch the
new lease to the old worker's schedule, and a late give-back would put records
being sent back to pending, to be sent a second time. A renewal says which
records are still held, and a worker that stalled past its lease sends none
of the others: the fake provider counts what it received. The clock is moved
past the lease (time-machine), never waited for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select
from time_machine import TimeMachineFixture

from publisher.content.rendering.issue import RenderedIssue
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState
from publisher.ledger.claims import Claim, claim_batch, record_results
from publisher.ledger.dispatch import mark_enqueued
from publisher.ledger.leases import release_claim, renew_lease
from tests.fakes.postmark import TOKEN as POSTMARK_TOKEN
from tests.fakes.resend import TOKEN as RESEND_TOKEN
from tests.fakes.server import FakeProviders
from tests.support.campaigns import publish_to_attendees
from tests.support.outgoing import received
from workers.delivery.batch import _send_chunks, compose, deliver_batch
from workers.delivery.context import WorkerContext
from workers.runtime import build_context

LEASE = dt.timedelta(seconds=60)
PAST_THE_LEASE = LEASE + dt.timedelta(seconds=1)

pytestmark = pytest.mark.timing


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    time_machine.move_to(dt.datetime.now(dt.UTC))
    return time_machine


def taken_over(settings: Settings, db: Database, clock: TimeMachineFixture) -> tuple[int, Claim, Claim]:
    """A batch, its first claim, whose lease ran out, and the claim (the next attempt) that took its records over."""
    created = publish_to_attendees(settings, db)
    mark_enqueued(db, created.batch_ids)
    batch = created.batch_ids[0]
    stale = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    clock.shift(PAST_THE_LEASE)
    current = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    assert stale is not None and current is not None
    assert [d.id for d in current.deliveries] == [d.id for d in stale.deliveries] != []
    assert {d.attempts for d in current.deliveries} == {2}
    return batch, stale, current


def records(db: Database, claim: Claim) -> list[tuple[DeliveryState, int, dt.datetime | None]]:
    ids = [d.id for d in claim.deliveries]
    with db.reading() as session:
        rows = session.execute(
            select(Delivery.state, Delivery.attempts, Delivery.lease_until).where(Delivery.id.in_(ids)).order_by(Delivery.id)
        )
        return [(state, attempts, lease_until) for state, attempts, lease_until in rows]


def test_a_claim_taken_over_cannot_renew_the_lease_of_the_claim_that_holds_its_records(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    _, stale, current = taken_over(settings, db, clock)
    held = records(db, current)
    clock.shift(LEASE / 2)
    renew_lease(db, stale.deliveries, LEASE)
    assert records(db, current) == held
    renew_lease(db, current.deliveries, LEASE)
    renewed = records(db, current)
    assert [(state, attempts) for state, attempts, _ in renewed] == [(DeliveryState.SENDING, 2)] * len(held)
    assert all(after != before for (*_, after), (*_, before) in zip(renewed, held, strict=True))


def test_a_claim_taken_over_cannot_give_back_the_records_another_claim_holds(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    batch, stale, current = taken_over(settings, db, clock)
    held = records(db, current)
    release_claim(db, stale.deliveries)
    assert records(db, current) == held
    # Nothing to claim again while the current claim holds the records: each is sent once.
    again = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    assert again is not None and again.deliveries == []
    accepted = [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"pm-{d.id}") for d in current.deliveries]
    assert record_results(db, current, accepted, max_attempts=3, idempotent=True).sent == len(held)


def test_the_current_claim_gives_its_records_back_and_the_attempt_does_not_count(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    *_, current = taken_over(settings, db, clock)
    release_claim(db, current.deliveries)
    assert records(db, current) == [(DeliveryState.PENDING, 1, None)] * len(current.deliveries)


def test_a_renewal_reports_which_records_the_claim_still_holds(settings: Settings, db: Database, clock: TimeMachineFixture) -> None:
    created = publish_to_attendees(settings.model_copy(update={"batch_size": 10}), db)
    mark_enqueued(db, created.batch_ids)
    stale = claim_batch(db, created.batch_ids[0], LEASE, "postmark", idempotent=True)
    clock.shift(PAST_THE_LEASE)
    current = claim_batch(db, created.batch_ids[0], LEASE, "postmark", idempotent=True)
    live = claim_batch(db, created.batch_ids[1], LEASE, "postmark", idempotent=True)
    assert stale is not None and current is not None and live is not None and live.deliveries != []
    renewal = renew_lease(db, [*stale.deliveries, *live.deliveries], LEASE)
    assert renewal.held == {d.id for d in live.deliveries}
    assert renew_lease(db, current.deliveries, LEASE).held == {d.id for d in current.deliveries}


@pytest.fixture
def ctx(
    settings: Settings, fake_provider: FakeProviders, redis_client: redis.Redis, request: pytest.FixtureRequest
) -> Iterator[WorkerContext]:
    """A worker sending through the fake ``request.param`` provider (Resend: idempotent; Postmark: not)."""
    name = request.param
    configured = settings.model_copy(
        update={
            "provider": name,
            f"{name}_api_key": {"resend": RESEND_TOKEN, "postmark": POSTMARK_TOKEN}[name],
            f"{name}_base_url": fake_provider.base_url,
            "batch_size": 10,
            "http_timeout": 2.0,
            "lease_seconds": LEASE.total_seconds(),
        }
    )
    context = build_context(configured)
    yield context
    context.close()


@pytest.mark.parametrize(
    ("ctx", "taken_to"),
    [("resend", DeliveryState.SENDING), ("postmark", DeliveryState.IN_DOUBT)],
    ids=["reclaimed", "in-doubt"],
    indirect=["ctx"],
)
def test_a_worker_that_stalled_past_its_lease_does_not_send_to_records_taken_over_meanwhile(
    ctx: WorkerContext, fake_provider: FakeProviders, clock: TimeMachineFixture, taken_to: DeliveryState
) -> None:
    """The worker claims, then stalls (here: in the rate limit's wait) past its lease; another worker's claim takes its records.

    With Resend (idempotent) they are claimed again under the next attempt;
    with Postmark they are put in doubt for the operator. Either way they are
    no longer the stalled worker's: it calls the provider for none of them
    and records nothing.
    """
    created = publish_to_attendees(ctx.settings, ctx.db)
    mark_enqueued(ctx.db, created.batch_ids)
    batch, name = created.batch_ids[0], ctx.settings.provider
    idempotent = ctx.provider(name).idempotent
    others: list[Claim | None] = []
    reserve = ctx.limiter.reserve

    def stalled(*args: Any, **kwargs: Any) -> Any:
        if not others:
            clock.shift(PAST_THE_LEASE)
            others.append(claim_batch(ctx.db, batch, LEASE, name, idempotent=idempotent))
        return reserve(*args, **kwargs)

    ctx.limiter.reserve = stalled  # type: ignore[method-assign]
    outcome = deliver_batch(ctx, batch, max_countdown=60)
    ctx.limiter.reserve = reserve  # type: ignore[method-assign]
    assert others != [], "the worker never reached the rate limit"
    assert fake_provider.calls_to(name) == [] and fake_provider.recipients(name) == []
    assert (outcome.sent, outcome.failed, outcome.retrying) == (0, 0, 0)
    with ctx.db.reading() as session:
        taken = session.execute(select(Delivery.state, Delivery.attempts).where(Delivery.batch_id == batch)).all()
    assert [state for state, _ in taken] == [taken_to] * 10
    other = others[0]
    if taken_to is DeliveryState.SENDING:
        # The worker that took them over sends them: each recipient gets one email.
        assert other is not None and len(other.deliveries) == 10
        assert {attempts for _, attempts in taken} == {2}
        issue = RenderedIssue(html=other.campaign.html_template, text=other.campaign.text_template, nonce=other.campaign.nonce)
        emails = [compose(ctx, other.campaign, issue, delivery) for delivery in other.deliveries]
        results, given_back = _send_chunks(ctx, ctx.provider(name), f"newsletter-{other.campaign.id}-{batch}", emails, other)
        assert (len(results), given_back) == (10, 0)
        assert record_results(ctx.db, other, results, max_attempts=3, idempotent=True).sent == 10
        assert sorted(received(fake_provider, name)) == sorted(d.email for d in other.deliveries)
    else:
        assert other is not None and other.deliveries == []
