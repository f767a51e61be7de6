"""Prometheus metrics of the workers: messages by provider and outcome, provider call latency.

Celery's prefork pool runs tasks in child processes, so prometheus_client
runs in multiprocess mode: each child writes its samples under
PROMETHEUS_MULTIPROC_DIR and the worker's main process serves them merged on
NEWSLETTER_METRICS_PORT. The directory must be set before prometheus_client
is first imported, which is why ``newsletter worker`` sets it before
importing anything of the workers.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

log = logging.getLogger(__name__)

MESSAGES = Counter("newsletter_messages", "Messages handed to providers, by outcome (sent, failed, retried).", ["provider", "outcome"])
PROVIDER_CALL_SECONDS = Histogram(
    "newsletter_provider_call_seconds",
    "Duration of one provider call (a batch).",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def serve(port: int) -> bool:
    """Serve the merged metrics of every process of this worker; False when the port is taken."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        log.warning("metrics not served on port %s: %s (another worker on this host serves its own)", port, exc)
        return False
    return True


def record(provider: str, *, sent: int, failed: int, retried: int) -> None:
    for outcome, count in (("sent", sent), ("failed", failed), ("retried", retried)):
        if count:
            MESSAGES.labels(provider, outcome).inc(count)
