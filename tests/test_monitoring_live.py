"""A real Prometheus scrapes a real worker and the web app's collector during a small send.

Prometheus runs the compose stack's configuration (examples/monitoring/prometheus),
its jobs pointed at the loopback ports of this test's worker and web app, with
the repository's recording and alert rules, scraping and evaluating every
second. Two campaigns go out through the fake Postmark at 3 calls a second:
the first is published before any worker runs, so its batches wait on the
queue, and its first call gets a 503, so it is retried. The test then asks
Prometheus's HTTP API for the queue depth, the send rate, every recording
rule, every alert's health and every expression of the Grafana dashboard,
each of which must return data. Waiting for a scrape or a rule evaluation
polls with a deadline of DEADLINE seconds: nothing here races the clock.

With NEWSLETTER_TEST_PANEL_DATA set to a file name, the dashboard's data is
also written there, for ``make monitoring-panels`` to draw docs/monitoring/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from publisher.core.broker import redis_url
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState, EventType
from publisher.feedback.recording import ProviderEvent, record_events
from publisher.ledger.dispatch import QueuedBatch, mark_enqueued
from publisher.queue import QUEUE_SEND, enqueue
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.monitoring.render_panels import render
from tests.support.audience import people
from tests.support.campaigns import publish as publish_campaign
from tests.support.monitoring import panels, recorded_names
from tests.support.prometheus import Prometheus, config_for, running_prometheus
from tests.support.types import StartWorker
from tests.support.web import free_port, serving

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Set to a file name, the test writes the dashboard's data there (``make monitoring-panels``).
PANEL_DATA = "NEWSLETTER_TEST_PANEL_DATA"
RECIPIENTS = 60
BATCH_SIZE = 5
BATCHES = RECIPIENTS // BATCH_SIZE


def publish(settings: Settings, db: Database) -> int:
    """Publish the shared recap to "attendees" and put its batches on the queue, as `newsletter publish` does."""
    created = publish_campaign(settings, db)
    enqueue(settings, redis_url(settings, start=False), [QueuedBatch(batch_id, priority=False) for batch_id in created.batch_ids])
    mark_enqueued(db, created.batch_ids)
    return created.id


def sent_total(prometheus: Prometheus, expected: int) -> float | None:
    """The sent messages Prometheus has scraped from the worker, once they reach ``expected``."""
    value = prometheus.value('sum(newsletter_messages_total{provider="postmark", outcome="sent"})')
    return value if value is not None and value >= expected else None


def complain(settings: Settings, db: Database, campaign: int) -> None:
    """A hard bounce and a complaint on two of the campaign's deliveries, recorded as the webhooks record them."""
    with db.transaction() as session:
        first, second = session.scalars(
            select(Delivery.message_id)
            .where(Delivery.campaign_id == campaign, Delivery.state == DeliveryState.SENT)
            .order_by(Delivery.id)
            .limit(2)
        )
        now = dt.datetime.now(dt.UTC)
        report = record_events(
            session,
            settings,
            [
                ProviderEvent("postmark", EventType.BOUNCED_HARD, now, message_id=first, detail="mailbox does not exist"),
                ProviderEvent("postmark", EventType.COMPLAINED, now, message_id=second),
            ],
        )
    assert report.recorded == 2, report


def panel_data(prometheus: Prometheus, start: float, end: float) -> dict[str, Any]:
    """Every dashboard target's ``query_range`` over the send, by panel id and refId."""
    return {
        "start": start,
        "end": end,
        "step": 1,
        "panels": {
            str(panel["id"]): {target["refId"]: prometheus.query_range(target["expr"], start, end, 1) for target in panel["targets"]}
            for panel in panels()
        },
    }


def test_prometheus_sees_the_send_and_every_panel_and_rule_has_data(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    from publisher.web.app import create_app
    from workers.providers import check_provider

    worker_port, web_port = free_port(), free_port()
    env = {
        **postmark_env,
        "NEWSLETTER_METRICS_PORT": str(worker_port),
        "NEWSLETTER_BATCH_SIZE": str(BATCH_SIZE),
        "NEWSLETTER_POSTMARK_REQUESTS_PER_SECOND": "3",
    }
    sender = settings.model_copy(update={"provider": "postmark", "batch_size": BATCH_SIZE})
    audience = tmp_path / "audience.csv"
    audience.write_text("email,first_name\n" + "".join(f"reader{n}@example.com,Reader {n}\n" for n in range(RECIPIENTS)), encoding="utf-8")
    people(db, audience)
    fake_postmark.faults.delay = 0.03
    fake_postmark.faults.canned.append(CannedAnswer(503, "Service Unavailable", {"Retry-After": "1"}))

    web = create_app(settings.model_copy(update={"web_metrics_port": web_port}), check_provider, metrics_host="127.0.0.1")
    targets = {"newsletter-worker": f"127.0.0.1:{worker_port}", "newsletter-web": f"127.0.0.1:{web_port}"}
    with serving(web), running_prometheus(config_for(targets), tmp_path / "prometheus") as prometheus:
        # Prometheus applies new targets after a few seconds: publish once it has the web app's, so the charts start before the send.
        prometheus.eventually(
            "a first scrape of the web app", lambda: prometheus.query('newsletter_collector_up{job="newsletter-web"} == 1')
        )
        start = time.time()
        first = publish(sender, db)
        # No worker yet: the campaign's batches wait on the queue, and the collector says so.
        depth = prometheus.eventually(
            "the waiting campaign's batches on the queue",
            lambda: prometheus.value(f'newsletter_queue_depth{{job="newsletter-web", queue="{QUEUE_SEND}"}} >= {BATCHES}'),
        )
        assert depth == BATCHES
        assert prometheus.value('newsletter_campaigns_sending{job="newsletter-web"}') == 1

        start_worker(env)
        prometheus.eventually("the first campaign's messages", lambda: sent_total(prometheus, RECIPIENTS))
        assert prometheus.value('up{job="newsletter-worker"}') == 1
        complain(settings, db, first)
        publish(sender, db)
        # The bounced and the complaining address are suppressed: the second campaign skips them.
        prometheus.eventually("the second campaign's messages", lambda: sent_total(prometheus, 2 * RECIPIENTS - 2))
        prometheus.eventually(
            "an empty queue after the sends", lambda: prometheus.query(f'newsletter_queue_depth{{queue="{QUEUE_SEND}"}} == 0')
        )

        # The send rate, from the worker's counter and from the recording rule the dashboard draws.
        rate = prometheus.eventually(
            "a send rate above zero",
            lambda: prometheus.value('max_over_time(provider_outcome:newsletter_messages:rate1m{provider="postmark", outcome="sent"}[5m])'),
        )
        assert rate > 0
        assert prometheus.value('max_over_time(sum(rate(newsletter_messages_total{outcome="sent"}[1m]))[5m:1s])') > 0
        assert prometheus.value(f'max_over_time(newsletter_queue_depth{{queue="{QUEUE_SEND}"}}[5m])') == BATCHES

        # The complaint on the first campaign (1 in 60, above 0.1 %) fires its alert; the second has none.
        firing = prometheus.eventually(
            "the complaint-rate alert firing",
            lambda: [
                alert
                for alert in prometheus.alerts()
                if alert["labels"]["alertname"] == "NewsletterComplaintRate" and alert["state"] == "firing"
            ],
        )
        assert [alert["labels"]["campaign"] for alert in firing] == [str(first)]
        # Nothing else is wrong, and no other alert says so.
        assert {alert["labels"]["alertname"] for alert in prometheus.alerts() if alert["state"] == "firing"} == {"NewsletterComplaintRate"}

        for name in recorded_names():
            prometheus.eventually(f"data for the recording rule {name}", lambda name=name: prometheus.query(name))
        for panel in panels():
            for target in panel["targets"]:
                prometheus.eventually(f"data for {panel['title']!r}: {target['expr']}", lambda expr=target["expr"]: prometheus.query(expr))
        # Every rule evaluates without an error against the real series (labels, matching, types).
        evaluated = prometheus.rules()
        assert {rule["name"] for rule in evaluated} >= set(recorded_names())
        assert [(rule["name"], rule.get("lastError")) for rule in evaluated if rule["health"] != "ok"] == []

        data = panel_data(prometheus, start, time.time())

    for panel in panels():
        for target in panel["targets"]:
            assert data["panels"][str(panel["id"])][target["refId"]], f"no range data for {panel['title']!r}: {target['expr']}"
    written = os.environ.get(PANEL_DATA)
    if written:
        Path(written).parent.mkdir(parents=True, exist_ok=True)
        Path(written).write_text(json.dumps(data), encoding="utf-8")
    drawn = render(data, tmp_path / "panels")
    assert len(drawn) == len(panels())
    for path in drawn:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), path
