"""The web app's metrics port: the cluster's gauges read from a real database and a real Redis at scrape time."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from publisher.core import provider_health
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState, EventType
from publisher.feedback.recording import ProviderEvent, record_events
from publisher.ledger.dispatch import QueuedBatch
from publisher.queue import QUEUE_PRIORITY, QUEUE_SEND, enqueue
from publisher.web.app import create_app
from publisher.web.metrics import serve_metrics
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.tcp_proxy import database_behind_proxy
from tests.support.web import free_port, serving
from workers.delivery.provider_state import ProviderState
from workers.providers import check_provider

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> tuple[int, Samples]:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.status_code, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@contextmanager
def metrics_port(settings: Settings, db: Database) -> Iterator[int]:
    served = serve_metrics(settings.model_copy(update={"web_metrics_port": free_port()}), db, "127.0.0.1")
    assert served is not None
    try:
        yield served.port
    finally:
        served.stop()


def _states(db: Database, campaign_id: int, *changes: tuple[int, DeliveryState, bool]) -> list[int]:
    """Move the campaign's first records: (how many, to which state, dead-lettered); return the record ids in order."""
    with db.transaction() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)))
        start = 0
        for count, state, dead in changes:
            chosen = ids[start : start + count]
            start += count
            values: dict[str, object] = {"state": state}
            if state == DeliveryState.SENT:
                values["sent_at"] = utcnow()
            if dead:
                values["dead_lettered_at"] = utcnow()
            session.execute(update(Delivery).where(Delivery.id.in_(chosen)).values(**values))
    return ids


def _finish(db: Database, campaign_id: int, completed_at: dt.datetime) -> None:
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id).values(state=DeliveryState.SENT, sent_at=completed_at))
        finished = {"status": CampaignStatus.COMPLETE, "completed_at": completed_at}
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**finished))


def _event(db: Database, delivery_id: int, kind: EventType, event_id: str) -> ProviderEvent:
    """The event a provider's webhook reports about one record, matched by our Message-ID."""
    with db.transaction() as session:
        message_id = session.scalar(select(Delivery.message_id).where(Delivery.id == delivery_id))
    return ProviderEvent(provider="outbox", type=kind, occurred_at=utcnow(), message_id=message_id, event_id=event_id)


def test_the_collector_reports_queues_campaigns_and_providers_exactly(
    settings: Settings, db: Database, redis_client: redis.Redis, redis_url: str
) -> None:
    people(db)  # 25 subscribers on "attendees"
    sending = publish(settings, db)
    finished_recently = publish(settings, db, provider="postmark")
    finished_long_ago = publish(settings, db)
    test_send = publish(settings, db, test_to="ada@example.com")
    paused = publish(settings, db)
    with db.transaction() as session:
        session.execute(
            update(Campaign).where(Campaign.id == paused.id).values(status=CampaignStatus.PAUSED, pause_reason="by an operator")
        )
    ids = _states(
        db,
        sending.id,
        (10, DeliveryState.SENT, False),
        (3, DeliveryState.SENDING, False),
        (2, DeliveryState.FAILED, True),
        (1, DeliveryState.FAILED, False),
        (1, DeliveryState.IN_DOUBT, False),
        (1, DeliveryState.SUPPRESSED, False),
    )  # 7 left pending
    _finish(db, finished_recently.id, utcnow() - dt.timedelta(hours=2))
    _finish(db, finished_long_ago.id, utcnow() - dt.timedelta(days=3))
    _states(db, finished_long_ago.id, (2, DeliveryState.IN_DOUBT, False), (1, DeliveryState.FAILED, True))
    events = [
        _event(db, ids[0], EventType.BOUNCED_HARD, "b1"),
        _event(db, ids[1], EventType.COMPLAINED, "c1"),
        _event(db, ids[1], EventType.COMPLAINED, "c2"),  # the same person twice counts once
        _event(db, ids[2], EventType.BOUNCED_SOFT, "s1"),  # not a hard bounce
        _event(db, ids[3], EventType.DELIVERED, "d1"),
    ]
    with db.transaction() as session:
        assert record_events(session, settings, events).recorded == 5
    enqueue(settings, redis_url, [QueuedBatch(batch_id, priority=False) for batch_id in sending.batch_ids * 3])
    enqueue(settings, redis_url, [QueuedBatch(test_send.batch_ids[0], priority=True)])
    ProviderState(redis_client, settings).pause("outbox", 600, "provider asked to retry later")
    redis_client.set(provider_health.key("postmark", "circuit"), "open", px=600_000)

    with metrics_port(settings, db) as port:
        status, samples = scrape(port)

    assert status == 200
    assert value(samples, "newsletter_collector_up") == 1
    assert value(samples, "newsletter_queue_depth", queue=QUEUE_SEND) == 3
    assert value(samples, "newsletter_queue_depth", queue=QUEUE_PRIORITY) == 1
    assert value(samples, "newsletter_campaigns_sending") == 1  # the paused one has records pending, and nothing moves
    recipients = {
        (dict(labels)["campaign"], dict(labels)["state"]): count
        for (name, labels), count in samples.items()
        if name == "newsletter_campaign_recipients"
    }
    sid, rid, pid = str(sending.id), str(finished_recently.id), str(paused.id)
    assert recipients == {
        **{(sid, state.value): 0.0 for state in DeliveryState},
        (sid, "pending"): 7,
        (sid, "sending"): 3,
        (sid, "sent"): 10,
        (sid, "failed"): 3,
        (sid, "in_doubt"): 1,
        (sid, "suppressed"): 1,
        **{(rid, state.value): 0.0 for state in DeliveryState},
        (rid, "sent"): 25,
        **{(pid, state.value): 0.0 for state in DeliveryState},
        (pid, "pending"): 25,
    }  # neither the campaign finished three days ago nor the test send
    assert value(samples, "newsletter_campaign_progress_ratio", campaign=sid) == 15 / 25
    assert value(samples, "newsletter_campaign_progress_ratio", campaign=rid) == 1
    assert value(samples, "newsletter_campaign_progress_ratio", campaign=pid) == 0
    assert value(samples, "newsletter_campaign_bounces", campaign=sid) == 1
    assert value(samples, "newsletter_campaign_complaints", campaign=sid) == 1
    assert value(samples, "newsletter_campaign_bounces", campaign=rid) == 0
    assert value(samples, "newsletter_in_doubt_records") == 3  # every campaign's
    assert value(samples, "newsletter_dead_letters") == 3
    assert value(samples, "newsletter_provider_paused", provider="outbox") == 1
    assert value(samples, "newsletter_provider_paused", provider="postmark") == 0
    assert value(samples, "newsletter_provider_circuit_open", provider="outbox") == 0
    assert value(samples, "newsletter_provider_circuit_open", provider="postmark") == 1


def test_no_address_or_title_reaches_a_label(settings: Settings, db: Database, redis_client: redis.Redis) -> None:
    people(db)
    campaign = publish(settings, db)
    with metrics_port(settings, db) as port:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert f'campaign="{campaign.id}"' in text
    assert "@" not in text
    with db.transaction() as session:
        title = session.scalar(select(Campaign.title).where(Campaign.id == campaign.id))
    assert title and title not in text


def test_with_redis_down_the_scrape_answers_collector_up_0_and_nothing_else(settings: Settings, db: Database) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://:hunter2@127.0.0.1:{free_port()}/0"})
    with metrics_port(down, db) as port:
        status, samples = scrape(port)
    assert status == 200
    assert samples == {("newsletter_collector_up", frozenset()): 0}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_down_the_scrape_answers_collector_up_0(
    settings: Settings, database_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with database_behind_proxy(database_url, "pw-never-shown-77") as (url, proxy):
        db = open_database(url)
        with metrics_port(settings, db) as port:
            assert value(scrape(port)[1], "newsletter_collector_up") == 1
            proxy.go_down()
            status, samples = scrape(port)
        db.dispose()
    assert status == 200
    assert samples == {("newsletter_collector_up", frozenset()): 0}
    assert "pw-never-shown-77" not in caplog.text


def test_the_metrics_port_serves_the_gauges_and_the_public_port_has_no_metrics(settings: Settings, redis_client: redis.Redis) -> None:
    port = free_port()
    app = create_app(settings.model_copy(update={"web_metrics_port": port}), check_provider, metrics_host="127.0.0.1")
    with serving(app) as public:
        assert requests.get(f"{public}/metrics", timeout=10).status_code == 404
        status, samples = scrape(port)
        assert status == 200
        assert value(samples, "newsletter_collector_up") == 1
    with socket.socket() as sock:
        # The port was given back when the app stopped (a listener still on it would refuse the bind).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_a_second_process_finding_the_port_taken_goes_on_without(settings: Settings, db: Database, redis_client: redis.Redis) -> None:
    with metrics_port(settings, db) as port:
        assert serve_metrics(settings.model_copy(update={"web_metrics_port": port}), db, "127.0.0.1") is None
        assert scrape(port)[0] == 200


def test_port_0_turns_the_metrics_off(settings: Settings, db: Database) -> None:
    assert serve_metrics(settings.model_copy(update={"web_metrics_port": 0}), db, "127.0.0.1") is None
