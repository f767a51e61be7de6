"""The cluster's gauges for Prometheus, read from the database and Redis at scrape time.

Each worker exports what it does itself (``workers.delivery.metrics``, on
NEWSLETTER_METRICS_PORT); what no single worker owns (queue depth, campaign
progress, in-doubt records, dead letters, provider circuits) is exported once,
here, by the web app, on NEWSLETTER_WEB_METRICS_PORT: never on the public
port, whose /metrics is a 404.

A scrape that cannot read the database or Redis still answers, with
``newsletter_collector_up 0`` and none of the other families, so a dashboard
shows a gap rather than stale numbers and an alert can say why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from publisher.core import provider_health
from publisher.core.broker import probe, redis_url
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import DeliveryState
from publisher.ledger.gauges import LedgerGauges, ledger_gauges
from publisher.queue import queue_depth

log = logging.getLogger(__name__)


class ClusterCollector(Collector):
    """Reads the ledger and Redis at every scrape: a few grouped counts, one Redis round trip for the queues and two per provider."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.redis = probe(redis_url(settings, start=False))

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("newsletter_collector_up", "1 when this scrape read the database and Redis, else 0.")
        try:
            families = self._families()
        except (SQLAlchemyError, redis.RedisError, OSError) as exc:
            # Its type only: a driver's message may quote the database's URL.
            log.warning("metrics: the database or Redis could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def close(self) -> None:
        self.redis.close()

    def _families(self) -> list[Metric]:
        ledger = ledger_gauges(self.db)
        depth = queue_depth(self.redis)
        named = [self.settings.provider, self.settings.fallback_provider, *(c.provider for c in ledger.campaigns)]
        providers = sorted({name for name in named if name})
        paused = {name: provider_health.paused_for(self.redis, name) for name in providers}
        circuit = {name: provider_health.circuit_open(self.redis, name) for name in providers}

        queues = GaugeMetricFamily("newsletter_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"])
        for queue, count in depth.items():
            queues.add_metric([queue], count)
        open_circuits = GaugeMetricFamily(
            "newsletter_provider_circuit_open", "1 while the provider's circuit is open (batches go to the fallback).", labels=["provider"]
        )
        pauses = GaugeMetricFamily("newsletter_provider_paused", "1 while the provider is paused for every worker.", labels=["provider"])
        for name in providers:
            open_circuits.add_metric([name], int(circuit[name]))
            pauses.add_metric([name], int(paused[name] > 0))
        return [queues, *_ledger_families(ledger), open_circuits, pauses]


def _ledger_families(ledger: LedgerGauges) -> list[Metric]:
    recipients = GaugeMetricFamily(
        "newsletter_campaign_recipients",
        "Records per delivery state, for campaigns sending, paused or finished within 24 h.",
        labels=["campaign", "state"],
    )
    progress = GaugeMetricFamily(
        "newsletter_campaign_progress_ratio", "Finished records / all records, same campaigns.", labels=["campaign"]
    )
    bounces = GaugeMetricFamily(
        "newsletter_campaign_bounces", "Recipients with a hard bounce reported by the provider.", labels=["campaign"]
    )
    complaints = GaugeMetricFamily("newsletter_campaign_complaints", "Recipients who complained (marked as spam).", labels=["campaign"])
    for campaign in ledger.campaigns:
        cid = str(campaign.id)
        for state in DeliveryState:
            recipients.add_metric([cid, state.value], campaign.counts[state.value])
        progress.add_metric([cid], campaign.progress)
        bounces.add_metric([cid], campaign.bounces)
        complaints.add_metric([cid], campaign.complaints)
    return [
        GaugeMetricFamily("newsletter_campaigns_sending", "Campaigns sending, with records pending or sending.", value=ledger.sending),
        recipients,
        progress,
        bounces,
        complaints,
        GaugeMetricFamily("newsletter_in_doubt_records", "Records in doubt, every campaign (newsletter reconcile).", value=ledger.in_doubt),
        GaugeMetricFamily(
            "newsletter_dead_letters", "Records on the dead-letter list, every campaign (newsletter dlq).", value=ledger.dead_letters
        ),
    ]


@dataclass
class MetricsServer:
    """The metrics HTTP server of this process, stopped with the app."""

    server: WSGIServer
    thread: threading.Thread
    collector: ClusterCollector

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.collector.close()


def serve_metrics(settings: Settings, db: Database, host: str) -> MetricsServer | None:
    """Serve the cluster's gauges on ``host``:NEWSLETTER_WEB_METRICS_PORT; None when it is 0 or the port is taken.

    Several processes of the web app on one host (uvicorn workers) all try;
    the first one serves and the others go on without, as the workers do.
    """
    if not settings.web_metrics_port:
        return None
    registry = CollectorRegistry()
    collector = ClusterCollector(settings, db)
    registry.register(collector)
    try:
        server, thread = start_http_server(settings.web_metrics_port, addr=host, registry=registry)
    except OSError as exc:
        collector.close()
        log.warning("metrics not served on %s:%s: %s (another process of the web app serves them)", host, settings.web_metrics_port, exc)
        return None
    log.info("metrics served on %s:%s/metrics", host, settings.web_metrics_port)
    return MetricsServer(server, thread, collector)
