"""Prometheus metrics of the workers: messages by provider and outcome, provider calls and their latency.

Celery's prefork pool runs tasks in child processes, so prometheus_client
runs in multiprocess mode: each child writes its samples under
PROMETHEUS_MULTIPROC_DIR and the worker's main process serves them merged on
NEWSLETTER_METRICS_PORT. The directory must be set before prometheus_client
is first imported, which is why ``newsletter worker`` sets it before
importing anything of the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

from publisher.core.outcomes import Outcome, SendResult

log = logging.getLogger(__name__)

MESSAGES = Counter("newsletter_messages", "Messages handed to providers, by outcome (sent, failed, retried).", ["provider", "outcome"])
PROVIDER_CALL_SECONDS = Histogram(
    "newsletter_provider_call_seconds",
    "Duration of one provider call (a batch).",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROVIDER_CALLS = Counter(
    "newsletter_provider_calls",
    "Provider calls (one per batch call), by result: ok, or error when the call raised or no message of it was accepted.",
    ["provider", "result"],
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


def provider_call(provider: str, call: Callable[[], list[SendResult]]) -> list[SendResult]:
    """Make one provider call, timed and counted: an error when it raised, or when it accepted
    no message and refused some for a reason of its own (a temporary error, a halt).

    A call that accepted some messages and refused others worked: the refusals
    are the messages' outcomes (newsletter_messages_total), not the call's.
    """
    with PROVIDER_CALL_SECONDS.labels(provider).time():
        try:
            results = call()
        except BaseException:
            PROVIDER_CALLS.labels(provider, "error").inc()
            raise
    # Addresses the provider refused for good are the list's fault, not the
    # provider's: a call whose every message was refused that way worked.
    ok = any(result.outcome == Outcome.ACCEPTED for result in results) or all(
        result.outcome == Outcome.PERMANENT and result.halt is None for result in results
    )
    PROVIDER_CALLS.labels(provider, "ok" if ok else "error").inc()
    return results
