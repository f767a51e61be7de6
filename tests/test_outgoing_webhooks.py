"""Outgoing webhooks: each event written with its change, sent signed to a real receiver, retried with backoff, endpoints disabled.

The receiver is a real HTTP server on loopback that verifies every call
with svix's ``Webhook.verify``, as a customer's would. Time is moved
(time-machine), never waited for.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import redis
import sqlalchemy
import time_machine
from sqlalchemy import select, update

from publisher.audience.lists import leave_list
from publisher.audience.privacy import erase
from publisher.audience.signup import confirm_subscription
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.fetching import FetchPolicy
from publisher.core.links import LinkTarget
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.db.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
    EventType,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    WebhookEndpoint,
    WebhookMessage,
)
from publisher.feedback.recording import ProviderEvent, record_events
from publisher.ledger import control, states
from publisher.ledger.campaigns import CampaignPlan, create_campaign
from publisher.outgoing_webhooks.announce import announce
from publisher.outgoing_webhooks.endpoints import add_endpoint, enable_endpoint, list_endpoints, remove_endpoint
from publisher.outgoing_webhooks.events import EVENT_TYPES, SUBSCRIBER_UNSUBSCRIBED, WebhookError
from publisher.outgoing_webhooks.messages import BACKOFF, MAX_AGE, RETENTION, any_due, claim_due, claim_seconds, prune
from publisher.queue import WEBHOOKS_QUEUED_KEY, deliver_webhooks_after_commit
from tests.fakes.webhook_receiver import Receiver, receiving
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.outgoing_webhooks import LOOPBACK, add, endpoint, messages
from tests.support.recaps import RECAP
from tests.support.waiting import wait_until, waiting_on_locks
from workers import sweeper
from workers.webhooks import deliver_due

T0 = dt.datetime(2026, 12, 4, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def loopback(settings: Settings) -> Settings:
    return settings.model_copy(update={"fetch_allow_loopback": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def _registered(db: Database, receiver: Receiver, events: tuple[str, ...] = EVENT_TYPES) -> int:
    endpoint_id, secret = add(db, receiver.url, events)
    receiver.secret = secret
    return endpoint_id


def _one_event(db: Database, detail: str = "x") -> None:
    with db.transaction() as session:
        announce(session, SUBSCRIBER_UNSUBSCRIBED, {"detail": detail})


def test_each_event_type_is_sent_once_signed_with_its_data(db: Database, loopback: Settings, receiver: Receiver) -> None:
    endpoint_id = _registered(db, receiver)
    ids = people(db)
    created = publish(loopback, db)
    with db.transaction() as session:
        first, second, third = session.scalars(select(Delivery).where(Delivery.campaign_id == created.id).order_by(Delivery.id).limit(3))
        session.execute(update(Delivery).where(Delivery.campaign_id == created.id).values(state=DeliveryState.SENT, sent_at=utcnow()))
        assert states.complete_if_done(session, created.id)
        now = utcnow()
        bounce = ProviderEvent("postmark", EventType.BOUNCED_HARD, now, message_id=first.message_id, detail="mailbox does not exist")
        complaint = ProviderEvent("postmark", EventType.COMPLAINED, now, message_id=second.message_id)
        record_events(session, loopback, [bounce, complaint])
        attendees = session.scalar(select(MailingList.id).where(MailingList.name == "attendees"))
        assert attendees is not None
        leave_list(session, ids[third.email], attendees)
        newcomer = Subscriber(email="new.reader@example.com", first_name="New", last_name="Reader")
        session.add(newcomer)
        session.flush()
        session.add(Subscription(list_id=attendees, subscriber_id=newcomer.id, status=SubscriptionStatus.PENDING, source="form"))
        newcomer_id, first_email, second_email, third_email = newcomer.id, first.email, second.email, third.email
        third_id = ids[third.email]
    confirm_subscription(db, LinkTarget(newcomer_id, attendees, None))

    run = deliver_due(loopback, db)

    assert (run.delivered, run.failed) == (6, 0)
    assert sorted(call.payload["type"] for call in receiver.calls) == sorted(EVENT_TYPES)
    assert all(call.verified for call in receiver.calls), "every signature verifies with the endpoint's secret"
    stored = {message.event_type: message for message in messages(db, endpoint_id)}
    for call in receiver.calls:
        assert call.headers["webhook-id"] == stored[call.payload["type"]].message_id
        assert call.headers["content-type"] == "application/json"
        assert call.payload["timestamp"].endswith("Z")
    data = {call.payload["type"]: call.payload["data"] for call in receiver.calls}
    assert data["campaign.sending"]["campaign"]["id"] == created.id
    assert data["campaign.sending"]["campaign"]["list"] == "attendees"
    assert data["campaign.sending"]["recipients"] == created.recipients
    assert data["campaign.completed"]["campaign"]["id"] == created.id
    assert data["campaign.completed"]["counts"]["sent"] == created.recipients
    assert data["delivery.bounced"] | {"occurred_at": None} == {
        "campaign_id": created.id,
        "delivery_id": first.id,
        "email": first_email,
        "provider": "postmark",
        "occurred_at": None,
        "detail": "mailbox does not exist",
        "suppressed": True,
        "bounce": "hard",
    }
    assert data["delivery.complained"]["email"] == second_email
    assert data["delivery.complained"]["suppressed"] is True
    assert data["subscriber.unsubscribed"]["subscriber"] == {"id": third_id, "email": third_email}
    assert data["subscriber.unsubscribed"]["list"] == "attendees"
    assert data["subscriber.confirmed"]["subscriber"]["email"] == "new.reader@example.com"
    assert data["subscriber.confirmed"]["subscriber"]["first_name"] == "New"
    assert data["subscriber.confirmed"]["list"] == "attendees"

    assert deliver_due(loopback, db).delivered == 0
    assert len(receiver.calls) == 6, "a delivered message is never sent again"
    assert all(message.delivered_at is not None and message.attempts == 1 for message in messages(db))


def test_a_scheduled_campaign_resumed_after_its_send_at_announces_that_it_is_sending(
    db: Database, loopback: Settings, receiver: Receiver
) -> None:
    endpoint_id = _registered(db, receiver, ("campaign.sending",))
    people(db)
    with time_machine.travel(T0, tick=False) as clock:
        plan = CampaignPlan(load_recap(RECAP), "attendees", "outbox", batch_size=100, send_at=T0 + dt.timedelta(hours=1))
        created = create_campaign(loopback, db, plan)
        assert created.scheduled
        control.pause(db, created.id)
        clock.shift(dt.timedelta(hours=2))
        control.resume(db, created.id)

    (message,) = messages(db, endpoint_id)
    assert message.event_type == "campaign.sending"
    with db.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == created.id)) is CampaignStatus.SENDING
    control.pause(db, created.id)
    control.resume(db, created.id)
    assert len(messages(db, endpoint_id)) == 1, "resuming a campaign that was sending announces nothing again"


def test_only_the_event_types_an_endpoint_asked_for_are_sent_to_it(db: Database, loopback: Settings, receiver: Receiver) -> None:
    _registered(db, receiver, ("campaign.completed",))
    people(db)
    publish(loopback, db)
    _one_event(db)

    deliver_due(loopback, db)

    assert receiver.calls == []
    assert messages(db) == []


def test_a_change_rolled_back_announces_nothing(db: Database, loopback: Settings, receiver: Receiver) -> None:
    _registered(db, receiver)

    def change_that_fails() -> None:
        with db.transaction() as session:
            announce(session, SUBSCRIBER_UNSUBSCRIBED, {"detail": "rolled back"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert messages(db) == []
    assert deliver_due(loopback, db).delivered == 0


def test_failed_calls_are_retried_with_backoff_under_the_same_webhook_id(db: Database, loopback: Settings, receiver: Receiver) -> None:
    endpoint_id = _registered(db, receiver)
    receiver.statuses = [500, 503]
    with time_machine.travel(T0, tick=False) as clock:
        _one_event(db)
        assert deliver_due(loopback, db).failed == 1
        (message,) = messages(db)
        assert message.attempts == 1
        assert message.last_error == "HTTP 500 Internal Server Error"
        assert message.next_attempt_at == T0 + dt.timedelta(seconds=BACKOFF[0])

        clock.shift(BACKOFF[0] - 1)
        assert deliver_due(loopback, db).failed == 0, "not due yet"
        clock.shift(1)
        assert deliver_due(loopback, db).failed == 1
        (message,) = messages(db)
        assert message.next_attempt_at == T0 + dt.timedelta(seconds=BACKOFF[0] + BACKOFF[1])

        clock.shift(BACKOFF[1] - 1)
        assert deliver_due(loopback, db).delivered == 0
        clock.shift(1)
        assert deliver_due(loopback, db).delivered == 1

    assert len(receiver.calls) == 3
    assert len({call.headers["webhook-id"] for call in receiver.calls}) == 1, "receivers deduplicate on webhook-id"
    assert all(call.verified for call in receiver.calls)
    stamps = [int(call.headers["webhook-timestamp"]) for call in receiver.calls]
    assert stamps == [int(T0.timestamp()), int(T0.timestamp()) + 5, int(T0.timestamp()) + 35], "each attempt is signed at its own time"
    (message,) = messages(db)
    assert (message.attempts, message.last_error, message.next_attempt_at) == (3, None, None)
    assert endpoint(db, endpoint_id).consecutive_failures == 0


def test_an_endpoint_is_disabled_after_the_failures_in_a_row_and_enabled_again(
    db: Database, loopback: Settings, receiver: Receiver
) -> None:
    limited = loopback.model_copy(update={"webhook_disable_after": 3})
    endpoint_id = _registered(db, receiver)
    receiver.statuses = [500, 500, 502]
    with time_machine.travel(T0, tick=False) as clock:
        _one_event(db, "first")
        _one_event(db, "second")
        assert deliver_due(limited, db).failed == 1, "the other message waits for its backoff, not called"
        clock.shift(BACKOFF[0])
        assert deliver_due(limited, db).failed == 1
        assert endpoint(db, endpoint_id).disabled_at is None
        clock.shift(BACKOFF[0])
        run = deliver_due(limited, db)
        assert (run.failed, run.disabled) == (1, 1), "the third failure in a row disables it"

        found = endpoint(db, endpoint_id)
        assert found.disabled_at == T0 + dt.timedelta(seconds=2 * BACKOFF[0])
        assert found.disabled_reason == "3 failed calls in a row; the last: HTTP 502 Bad Gateway"
        (shown,) = list_endpoints(db)
        assert not shown.enabled
        assert shown.waiting == 2

        clock.shift(BACKOFF[-1])
        assert not any_due(db), "messages wait while their endpoint is disabled"
        assert deliver_due(limited, db).delivered == 0
        assert len(receiver.calls) == 3

        enable_endpoint(db, endpoint_id)
        assert any_due(db)
        assert deliver_due(limited, db).delivered == 2

    assert sorted(call.payload["data"]["detail"] for call in receiver.calls[3:]) == ["first", "second"]
    found = endpoint(db, endpoint_id)
    assert (found.disabled_at, found.disabled_reason, found.consecutive_failures) == (None, None, 0)


def test_a_success_resets_the_failures_in_a_row(db: Database, loopback: Settings, receiver: Receiver) -> None:
    limited = loopback.model_copy(update={"webhook_disable_after": 2})
    endpoint_id = _registered(db, receiver)
    receiver.statuses = [500, 200, 500]
    with time_machine.travel(T0, tick=False) as clock:
        _one_event(db)
        deliver_due(limited, db)
        clock.shift(BACKOFF[0])
        deliver_due(limited, db)
        _one_event(db)
        deliver_due(limited, db)

    found = endpoint(db, endpoint_id)
    assert found.disabled_at is None
    assert found.consecutive_failures == 1


def test_a_closed_port_is_a_failed_attempt(db: Database, loopback: Settings) -> None:
    # Bound but not listening for the whole call: the port stays closed, and no other process can take it meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        endpoint_id, _ = add(db, f"http://127.0.0.1:{port}/hooks")
        _one_event(db)

        assert deliver_due(loopback, db).failed == 1

    (message,) = messages(db)
    assert message.delivered_at is None
    assert message.last_error is not None and "cannot connect" in message.last_error
    assert endpoint(db, endpoint_id).consecutive_failures == 1


def test_the_address_is_checked_again_at_every_call(db: Database, settings: Settings, receiver: Receiver) -> None:
    # Added while loopback was allowed; at the call its name resolves to an address the
    # service may not reach now, as after DNS rebinding: the connection is refused.
    add(db, receiver.url.replace("http://127.0.0.1", "https://localhost"))
    _one_event(db)

    run = deliver_due(settings, db)

    assert run.failed == 1
    assert receiver.calls == []
    (message,) = messages(db)
    assert message.last_error is not None
    assert "is refused: localhost resolves to" in message.last_error
    assert "a loopback address" in message.last_error


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.7/hooks", "a private address"),
        ("https://169.254.169.254/latest/meta-data", "a link-local address"),
        ("https://[::ffff:192.168.1.1]/hooks", "a private address"),
        ("https://0.0.0.0/hooks", "an unspecified address"),
        ("ftp://example.com/hooks", "not an https:// URL"),
        ("https://user:pass@example.com/hooks", "user name or password"),
        ("https://example.com/" + "a" * 2100, "at most 2,000"),
        ("https://exa mple.com/hooks", "space or a control character"),
        ("https://example.com/\x00", "space or a control character"),
        ("https:///hooks", "names no host"),
        ("https://nothing.invalid/hooks", "does not resolve"),
        ("", "give the endpoint's URL"),
    ],
)
def test_endpoint_urls_that_are_refused(db: Database, url: str, reason: str) -> None:
    with pytest.raises(WebhookError, match=reason):
        add_endpoint(db, url, ["campaign.sending"], LOOPBACK, "cli")
    assert list_endpoints(db) == []


def test_loopback_is_refused_unless_allowed(db: Database) -> None:
    strict = FetchPolicy(timeout=10, max_bytes=1_000_000, allow_loopback=False)
    for url in ("http://127.0.0.1:8080/hooks", "https://127.0.0.1/hooks", "https://localhost/hooks", "https://[::1]/hooks"):
        with pytest.raises(WebhookError, match="refused"):
            add_endpoint(db, url, ["campaign.sending"], strict, "cli")
    assert list_endpoints(db) == []
    info, secret = add_endpoint(db, "http://127.0.0.1:8080/hooks", ["campaign.sending"], LOOPBACK, "cli")
    assert info.url == "http://127.0.0.1:8080/hooks"
    assert secret.startswith("whsec_")


@pytest.mark.parametrize("events", [[], ["campaign.sent"], ["campaign.sending", "x" * 10_000], ["Campaign.Sending"]])
def test_event_types_that_are_refused(db: Database, events: list[str]) -> None:
    with pytest.raises(WebhookError, match=re.escape("campaign.sending, campaign.completed, delivery.bounced")):
        add_endpoint(db, "http://127.0.0.1:8080/hooks", events, LOOPBACK, "cli")
    assert list_endpoints(db) == []


def test_removing_an_endpoint_drops_its_waiting_messages(db: Database, loopback: Settings, receiver: Receiver) -> None:
    endpoint_id = _registered(db, receiver)
    _one_event(db)
    assert len(messages(db)) == 1

    removed = remove_endpoint(db, endpoint_id)

    assert removed.id == endpoint_id
    assert messages(db) == []
    assert deliver_due(loopback, db).delivered == 0
    assert receiver.calls == []


def test_two_endpoints_each_get_the_event_signed_with_their_own_secret(db: Database, loopback: Settings) -> None:
    with receiving() as one, receiving() as two:
        _registered(db, one)
        _registered(db, two)
        _one_event(db)
        assert deliver_due(loopback, db).delivered == 2
    assert one.calls[0].verified and two.calls[0].verified
    assert one.calls[0].headers["webhook-signature"] != two.calls[0].headers["webhook-signature"]


def test_messages_about_an_erased_person_are_deleted_and_never_sent(db: Database, loopback: Settings, receiver: Receiver) -> None:
    endpoint_id = _registered(db, receiver, ("subscriber.unsubscribed",))
    ids = people(db)
    email, other = sorted(ids)[:2]
    with db.transaction() as session:
        attendees = session.scalar(select(MailingList.id).where(MailingList.name == "attendees"))
        assert attendees is not None
        leave_list(session, ids[email], attendees)
        leave_list(session, ids[other], attendees)
    assert len(messages(db, endpoint_id)) == 2

    assert erase(db, email).webhook_messages == 1

    assert deliver_due(loopback, db).delivered == 1
    assert [call.payload["data"]["subscriber"]["email"] for call in receiver.calls] == [other]
    assert all(email not in message.payload for message in messages(db))


def test_delivered_messages_are_deleted_after_the_retention(db: Database, loopback: Settings, receiver: Receiver) -> None:
    _registered(db, receiver)
    with time_machine.travel(T0, tick=False) as clock:
        _one_event(db, "delivered")
        assert deliver_due(loopback, db).delivered == 1
        _one_event(db, "waiting")
        clock.shift(RETENTION)
        assert prune(db) == 0, "kept for the whole retention"
        clock.shift(1)
        assert prune(db) == 1

    (left,) = messages(db)
    assert '"waiting"' in left.payload, "a message not delivered yet is never pruned"


def test_the_sweep_queues_due_webhooks_and_prunes_even_when_its_batch_dispatch_fails(
    db: Database, settings: Settings, redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(db, "http://127.0.0.1:8080/hooks")
    with time_machine.travel(T0, tick=False):
        _one_event(db, "old")
    with db.transaction() as session:
        session.execute(update(WebhookMessage).values(delivered_at=T0, next_attempt_at=None))
    _one_event(db, "due")

    def broken_dispatch(*_: object) -> int:
        raise RuntimeError("the batch dispatch failed")

    monkeypatch.setattr(sweeper, "dispatch_due", broken_dispatch)
    redis_client.delete(sweeper.LOCK_NAME)
    with time_machine.travel(T0 + RETENTION + dt.timedelta(days=1)):
        assert sweeper.Sweeper(settings, redis_url).sweep_once() == 0

    assert redis_client.exists(WEBHOOKS_QUEUED_KEY), "a delivery task was queued for the due message"
    (left,) = messages(db)
    assert '"due"' in left.payload, "the delivered message past its retention was deleted"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_removing_an_endpoint_meanwhile_never_fails_the_change_that_announces(db: Database) -> None:
    endpoint_id, _ = add(db, "http://127.0.0.1:8080/hooks")
    removed: list[int] = []
    remover = threading.Thread(target=lambda: removed.append(remove_endpoint(db, endpoint_id).id))
    with db.transaction() as session:
        session.add(Subscriber(email="leaving@example.com"))
        announce(session, SUBSCRIBER_UNSUBSCRIBED, {"detail": "the change"})
        # The endpoint is removed while this transaction is open: that waits for it, rather than break its insert.
        remover.start()
        wait_until(lambda: bool(removed) or waiting_on_locks(db) > 0)
    remover.join(timeout=30)

    assert removed == [endpoint_id]
    with db.transaction() as session:
        assert session.scalar(select(Subscriber.id).where(Subscriber.email == "leaving@example.com")) is not None, "the change committed"
    assert messages(db) == [], "its message went with the endpoint"


def test_a_failing_endpoint_counts_one_failure_per_run_and_holds_up_no_other(db: Database, loopback: Settings) -> None:
    with receiving() as failing, receiving() as healthy:
        failing_id = _registered(db, failing)
        _registered(db, healthy)
        failing.statuses = [503] * 40
        with time_machine.travel(T0, tick=False) as clock:
            for number in range(20):
                _one_event(db, f"event {number}")

            run = deliver_due(loopback, db)

            assert (run.failed, run.delivered) == (1, 20), "one call to the failing endpoint; every message of the other delivered"
            assert len(failing.calls) == 1
            assert endpoint(db, failing_id).consecutive_failures == 1
            waiting = messages(db, failing_id)
            assert len(waiting) == 20 and all(message.delivered_at is None for message in waiting)
            assert sorted(message.attempts for message in waiting) == [0] * 19 + [1], "only the message called counts an attempt"

            assert deliver_due(loopback, db).failed == 1, "the next run is one failure too"
            clock.shift(BACKOFF[0])
            assert deliver_due(loopback, db).failed == 1
            assert endpoint(db, failing_id).consecutive_failures == 3
            assert len(failing.calls) == 3


def test_a_message_whose_claim_lapsed_during_the_batch_is_not_sent(db: Database, loopback: Settings, receiver: Receiver) -> None:
    _registered(db, receiver)
    taken: list[int] = []
    with time_machine.travel(T0, tick=False) as clock:
        for number in range(3):
            _one_event(db, f"event {number}")

        def slow_call(_: object) -> None:
            if not taken:
                # The first call took so long that the batch's claim lapsed, and another worker claimed the rest.
                clock.shift(claim_seconds(loopback.http_timeout) + 1)
                taken.extend(message.id for message in claim_due(db, http_timeout=loopback.http_timeout))

        receiver.on_call = slow_call
        run = deliver_due(loopback, db)

    assert len(taken) == 3, "the call in flight too: its claim had lapsed"
    assert (run.delivered, len(receiver.calls)) == (1, 1), "the messages the other worker holds are left to it"
    assert run.held_back == 2


def test_a_message_still_failing_after_the_maximum_age_is_given_up(db: Database, loopback: Settings, receiver: Receiver) -> None:
    endpoint_id = _registered(db, receiver)
    receiver.statuses = [500] * 100
    with time_machine.travel(T0, tick=False) as clock:
        _one_event(db)
        deliver_due(loopback, db)
        clock.shift(MAX_AGE - dt.timedelta(seconds=1))
        deliver_due(loopback, db)
        (message,) = messages(db)
        assert message.failed_at is None and message.next_attempt_at is not None, "still retried before the maximum age"
        clock.shift(BACKOFF[-1])

        assert deliver_due(loopback, db).failed == 1
        (message,) = messages(db)
        assert message.failed_at == T0 + MAX_AGE - dt.timedelta(seconds=1) + dt.timedelta(seconds=BACKOFF[-1])
        assert message.next_attempt_at is None and message.delivered_at is None
        clock.shift(dt.timedelta(days=1))
        assert not any_due(db)
        assert deliver_due(loopback, db).failed == 0
        enable_endpoint(db, endpoint_id)
        assert not any_due(db), "enabling the endpoint again does not revive a message given up on"

    (shown,) = list_endpoints(db)
    assert (shown.waiting, shown.failed) == (0, 1)
    assert len(receiver.calls) == 3


def test_messages_claimed_for_an_endpoint_removed_or_disabled_meanwhile_are_not_sent(db: Database, loopback: Settings) -> None:
    with receiving() as first, receiving() as removed, receiving() as disabled:
        _registered(db, first)
        removed_id = _registered(db, removed)
        disabled_id = _registered(db, disabled)
        _one_event(db)

        def meanwhile(_: object) -> None:
            remove_endpoint(db, removed_id)
            with db.transaction() as session:
                session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == disabled_id).values(disabled_at=utcnow()))

        first.on_call = meanwhile
        run = deliver_due(loopback, db)

        assert (run.delivered, run.failed) == (1, 0)
        assert (len(first.calls), removed.calls, disabled.calls) == (1, [], [])
        (waiting,) = messages(db, disabled_id)
        assert waiting.delivered_at is None and waiting.attempts == 0, "it waits for its endpoint to be enabled"


def test_an_endpoints_reason_phrase_is_stored_and_logged_as_one_printable_line(
    db: Database, loopback: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint_id = _registered(db, receiver)
    receiver.statuses = [500]
    receiver.reason = "Down\x1b[31m for\x9b now\x7f\tok"
    _one_event(db)

    with caplog.at_level("INFO", logger="workers.webhooks"):
        deliver_due(loopback, db)

    (message,) = messages(db)
    assert message.last_error == "HTTP 500 Down [31m for now ok"
    assert endpoint(db, endpoint_id).last_error == "HTTP 500 Down [31m for now ok"
    assert "HTTP 500 Down [31m for now ok" in caplog.text
    assert not any(char in caplog.text for char in "\x1b\x9b\x7f")


def test_the_delivery_task_is_queued_by_the_submitted_job_not_in_the_committing_thread(
    settings: Settings, redis_client: redis.Redis
) -> None:
    db = open_database(settings.resolved_database_url, settings.secret_keys)
    submitted: list[Callable[[], None]] = []
    try:
        deliver_webhooks_after_commit(settings, db, submit=submitted.append)
        add(db, "http://127.0.0.1:8080/hooks")
        _one_event(db)

        assert len(submitted) == 1
        assert not redis_client.exists(WEBHOOKS_QUEUED_KEY), "the commit did no Redis work itself"
        submitted[0]()
        assert redis_client.exists(WEBHOOKS_QUEUED_KEY)
    finally:
        db.dispose()


def test_no_event_data_is_gathered_when_no_endpoint_asked_for_the_type(db: Database, loopback: Settings) -> None:
    add(db, "http://127.0.0.1:8080/hooks", ("delivery.bounced",))
    ids = people(db)
    created = publish(loopback, db)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    sqlalchemy.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.transaction() as session:
            attendees = session.scalar(select(MailingList.id).where(MailingList.name == "attendees"))
            assert attendees is not None
            statements.clear()
            assert leave_list(session, next(iter(ids.values())), attendees)
            session.execute(update(Delivery).where(Delivery.campaign_id == created.id).values(state=DeliveryState.SENT))
            assert states.complete_if_done(session, created.id)
    finally:
        sqlalchemy.event.remove(db.engine, "before_cursor_execute", seen)

    assert not [sql for sql in statements if "FROM subscribers" in sql or "FROM mailing_lists" in sql or "GROUP BY" in sql]
    assert messages(db) == []
