"""The delivery engine in-process (no Celery): real database, real Redis, the fake provider over HTTP."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update
from time_machine import TimeMachineFixture

from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState, Subscriber
from tests.fakes.postmark import TOKEN
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.campaigns import publish_to_attendees
from workers.delivery.batch import deliver_batch
from workers.delivery.context import WorkerContext
from workers.delivery.provider_state import ProviderState
from workers.runtime import build_context


@pytest.fixture
def engine_settings(settings: Settings, fake_provider: FakeProviders, redis_client: redis.Redis, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "provider": "postmark",
            "postmark_api_key": TOKEN,
            "postmark_base_url": fake_provider.base_url,
            "outbox_dir": tmp_path / "outbox",
            "batch_size": 10,
            "http_timeout": 2.0,
        }
    )


@pytest.fixture
def ctx(engine_settings: Settings) -> Iterator[WorkerContext]:
    context = build_context(engine_settings)
    yield context
    context.close()


def states(db: Database, campaign_id: int) -> list[tuple[DeliveryState, int, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            select(Delivery.state, Delivery.attempts, Delivery.provider).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_a_batch_is_sent_and_recorded_in_one_provider_call(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_to_attendees(ctx.settings, ctx.db)
    outcome = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=300)
    assert (outcome.sent, outcome.failed, outcome.retry_in) == (10, 0, None)
    assert len(fake_provider.calls_to("postmark")) == 1
    assert [s for s, _, _ in states(ctx.db, campaign.id)].count(DeliveryState.SENT) == 10


def test_the_provider_is_chosen_outside_any_database_transaction_for_a_campaign_on_any_provider(ctx: WorkerContext) -> None:
    """Redis is never read while the claim's transaction is open: on SQLite it would hold every writer behind the write lock."""
    import sqlite3

    import psycopg

    locked_while_reading_redis: list[bool] = []
    url = ctx.db.engine.url

    def locked() -> bool:
        if url.get_backend_name() == "sqlite":
            other = sqlite3.connect(str(url.database), timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                other.close()
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as other:
            waiting = other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            ).fetchone()
            return bool(waiting and waiting[0])

    class Watched(ProviderState):
        def choose(self, provider: str) -> str:
            locked_while_reading_redis.append(locked())
            return super().choose(provider)

        def paused_for(self, provider: str) -> float:
            locked_while_reading_redis.append(locked())
            return super().paused_for(provider)

    ctx.state = Watched(ctx.state.client, ctx.state.settings)
    on_postmark = publish_to_attendees(ctx.settings, ctx.db)
    on_outbox = publish_to_attendees(ctx.settings, ctx.db, provider="outbox")
    assert deliver_batch(ctx, on_postmark.batch_ids[0], max_countdown=300).sent == 10
    # A campaign on another provider than the one guessed is claimed with a choice for its own.
    assert deliver_batch(ctx, on_outbox.batch_ids[0], max_countdown=300).sent == 10
    assert locked_while_reading_redis and not any(locked_while_reading_redis)
    assert ctx.last_primary == "outbox"
    assert [state for state, _, _ in states(ctx.db, on_outbox.id)].count(DeliveryState.SENT) == 10


@pytest.mark.parametrize("name", ["Eve\u2028Bcc: victim@example.com", "Eve\x85", "Eve\x0b", "Eve\x1c"])
def test_a_name_no_header_can_carry_fails_its_record_alone_with_the_reason(
    ctx: WorkerContext, fake_provider: FakeProviders, name: str
) -> None:
    campaign = publish_to_attendees(ctx.settings, ctx.db)
    with ctx.db.transaction() as session:
        first = session.scalars(select(Delivery).where(Delivery.batch_id == campaign.batch_ids[0]).order_by(Delivery.id)).first()
        assert first is not None and first.subscriber_id is not None
        session.execute(update(Subscriber).where(Subscriber.id == first.subscriber_id).values(first_name=name))
        poisoned = first.id
    outcome = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=300)
    assert (outcome.sent, outcome.failed, outcome.retrying) == (9, 1, 0)
    with ctx.db.transaction() as session:
        failed = session.get(Delivery, poisoned)
        assert failed is not None and failed.state == DeliveryState.FAILED
        assert "the name contains " in (failed.last_error or "")
        assert f"(U+{ord(name[3]):04X}); no message header can carry it" in (failed.last_error or "")
    assert len(fake_provider.recipients()) == 9


def test_rejected_credentials_pause_the_campaign_instead_of_burning_the_list(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_to_attendees(ctx.settings, ctx.db)
    fake_provider.faults.canned.append(CannedAnswer(401, '{"ErrorCode": 10, "Message": "Bad or missing Server API token."}'))
    outcome = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=300)
    assert outcome.retry_in is None
    with ctx.db.transaction() as session:
        stored = session.get(Campaign, campaign.id)
        assert stored is not None
        assert stored.status == CampaignStatus.PAUSED
        assert "rejected the credentials" in (stored.pause_reason or "")
    assert {(state, attempts) for state, attempts, _ in states(ctx.db, campaign.id)} == {(DeliveryState.PENDING, 0)}
    # The next batch of the paused campaign is not even tried.
    assert deliver_batch(ctx, campaign.batch_ids[1], max_countdown=300).sent == 0
    assert len(fake_provider.calls_to("postmark")) == 1


@pytest.mark.parametrize(
    ("setting", "variable", "value"),
    [("reply_to", "NEWSLETTER_REPLY_TO", "Support, Inc <s@x.com>"), ("from_address", "NEWSLETTER_FROM", "a@x.com, b@y.com")],
)
def test_a_sender_no_message_can_carry_pauses_the_campaign_and_fails_no_record(
    engine_settings: Settings, fake_provider: FakeProviders, setting: str, variable: str, value: str
) -> None:
    # Loading the settings refuses such a value (tests/test_settings.py); settings
    # built in-process skip that check, which is the case this guards: the
    # sender is nobody's record, so the records wait and an operator decides.
    ctx = build_context(engine_settings)
    try:
        campaign = publish_to_attendees(ctx.settings, ctx.db)
        broken = build_context(engine_settings.model_copy(update={setting: value}))
        try:
            outcome = deliver_batch(broken, campaign.batch_ids[0], max_countdown=300)
            assert (outcome.sent, outcome.failed, outcome.retry_in) == (0, 0, None)
            with ctx.db.transaction() as session:
                stored = session.get(Campaign, campaign.id)
                assert stored is not None and stored.status == CampaignStatus.PAUSED
                assert (stored.pause_reason or "").startswith(f"{variable} cannot go in a message: ")
                assert (stored.pause_reason or "").endswith("; fix it, then resume")
                errors = set(session.scalars(select(Delivery.last_error).where(Delivery.batch_id == campaign.batch_ids[0])))
            assert {(state, attempts) for state, attempts, _ in states(ctx.db, campaign.id)} == {(DeliveryState.PENDING, 0)}
            assert len(errors) == 1 and "exactly one" in str(errors)
            assert fake_provider.calls_to("postmark") == []
            # The failed attempt is not a provider failure: no circuit opens, no failover.
            assert not broken.state.circuit_open("postmark")
        finally:
            broken.close()
    finally:
        ctx.close()


def test_a_sender_with_an_international_domain_goes_out_with_message_ids_in_punycode(engine_settings: Settings, tmp_path: Path) -> None:
    # The settings accept events@bücher.de; the Message-IDs take the sender's
    # domain, and a MIME header can only carry it in its ASCII (IDNA) form.
    ctx = build_context(engine_settings.model_copy(update={"from_address": "Modu Events <events@bücher.de>"}))
    try:
        campaign = publish_to_attendees(ctx.settings, ctx.db, provider="outbox")
        outcome = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=300)
        assert (outcome.sent, outcome.failed) == (10, 0)
        [first, *_] = sorted((tmp_path / "outbox").glob("*.eml"))
        headers = first.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii").splitlines()
        assert "From: Modu Events <events@xn--bcher-kva.de>" in headers
        assert any(re.fullmatch(r"Message-ID: <[0-9a-f]{32}@xn--bcher-kva\.de>", line) for line in headers), headers
    finally:
        ctx.close()


@pytest.mark.timing
def test_retry_after_pauses_the_provider_for_every_worker(ctx: WorkerContext, fake_provider: FakeProviders) -> None:
    campaign = publish_to_attendees(ctx.settings, ctx.db)
    fake_provider.faults.throttle = 1
    fake_provider.faults.retry_after = "30"
    first = deliver_batch(ctx, campaign.batch_ids[0], max_countdown=300)
    assert first.retrying == 10 and first.retry_in is not None and first.retry_in >= 29
    other_worker = ProviderState(redis.Redis.from_url(str(ctx.settings.redis_url)), ctx.settings)
    assert 25 < other_worker.paused_for("postmark") <= 30
    second = deliver_batch(ctx, campaign.batch_ids[1], max_countdown=300)
    assert second.retry_in is not None and second.retry_in >= 25
    assert len(fake_provider.calls_to("postmark")) == 1  # the paused provider was not called again


def test_failing_primary_fails_over_to_the_fallback(ctx: WorkerContext, fake_provider: FakeProviders, tmp_path: Path) -> None:
    ctx.settings = ctx.settings.model_copy(update={"fallback_provider": "outbox", "failover_after": 2})
    ctx.state = ProviderState(ctx.state.client, ctx.settings)
    campaign = publish_to_attendees(ctx.settings, ctx.db)
    fake_provider.faults.error_rate = 1.0
    for batch_id in campaign.batch_ids[:2]:
        assert deliver_batch(ctx, batch_id, max_countdown=300).retrying == 10
    assert ctx.state.circuit_open("postmark")
    third = deliver_batch(ctx, campaign.batch_ids[2], max_countdown=300)
    assert third.sent == 5
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 5
    providers = {provider for state, _, provider in states(ctx.db, campaign.id) if state == DeliveryState.SENT}
    assert providers == {"outbox"}


@pytest.mark.timing
def test_quota_halt_pauses_the_provider_until_the_time_given(
    engine_settings: Settings, redis_client: redis.Redis, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC))
    state = ProviderState(redis_client, engine_settings)
    halted = SendResult(1, Outcome.TRANSIENT, error="daily_quota_exceeded", halt=Halt.QUOTA)
    state.observe("resend", [halted])
    assert 12 * 3600 - 60 < state.paused_for("resend") <= 12 * 3600  # until the next UTC midnight
    state.observe("postmark", [SendResult(2, Outcome.TRANSIENT, error="quota", retry_after=120, halt=Halt.QUOTA)])
    assert 115 < state.paused_for("postmark") <= 120


def test_a_success_closes_the_failure_count(engine_settings: Settings, redis_client: redis.Redis) -> None:
    settings = engine_settings.model_copy(update={"failover_after": 2})
    state = ProviderState(redis_client, settings)
    state.observe("postmark", [SendResult(1, Outcome.TRANSIENT, error="503")])
    state.observe("postmark", [SendResult(1, Outcome.ACCEPTED, provider_message_id="x")])
    state.observe("postmark", [SendResult(1, Outcome.TRANSIENT, error="503")])
    assert not state.circuit_open("postmark")


@pytest.mark.timing
def test_the_rate_limit_holds_across_workers(engine_settings: Settings, fake_provider: FakeProviders) -> None:
    import threading
    import time

    settings = engine_settings.model_copy(update={"postmark_requests_per_second": 10.0})
    workers = [build_context(settings) for _ in range(3)]
    campaign = publish_to_attendees(workers[0].settings, workers[0].db)
    batches = list(campaign.batch_ids)
    started = time.monotonic()

    def work(ctx: WorkerContext, mine: list[int]) -> None:
        for batch_id in mine:
            deliver_batch(ctx, batch_id, max_countdown=60)

    threads = [threading.Thread(target=work, args=(ctx, batches[i::3])) for i, ctx in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = fake_provider.calls_to("postmark")
    assert len(calls) == 3
    assert time.monotonic() - started >= 0.2  # three calls at 10/s need at least two intervals
    for ctx in workers:
        ctx.close()


def test_the_pool_children_inherit_frozen_objects_so_their_collector_leaves_shared_pages_alone() -> None:
    import gc

    from celery import signals

    import workers.celery_app  # noqa: F401  (connects the handler)

    gc.unfreeze()
    try:
        signals.worker_before_create_process.send(sender=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
