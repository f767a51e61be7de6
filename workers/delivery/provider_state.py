"""Provider state shared by every worker through Redis: pauses and circuit breakers.

A provider that answers 429 with Retry-After, or says its quota is used up,
is paused for every worker until the time given. A provider whose calls keep
failing has its circuit opened for a cool-down; while it is open, batches go
to the fallback provider when one is configured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis

from publisher.core import provider_health
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.core.signals import Halt

#: Pause after a quota halt that names no time: until the next UTC midnight.
QUOTA_RESET_HOUR = 0


@dataclass(frozen=True)
class ProviderState:
    client: redis.Redis
    settings: Settings

    def paused_for(self, provider: str) -> float:
        """Seconds the provider stays paused for every worker (0: not paused)."""
        return provider_health.paused_for(self.client, provider)

    def pause(self, provider: str, seconds: float, reason: str) -> None:
        self.client.set(provider_health.key(provider, "paused"), reason, px=max(1, int(seconds * 1000)))

    def circuit_open(self, provider: str) -> bool:
        return provider_health.circuit_open(self.client, provider)

    def choose(self, provider: str) -> str:
        """The provider to call now: the fallback while the primary's circuit is open."""
        fallback = self.settings.fallback_provider
        if fallback and fallback != provider and self.circuit_open(provider) and not self.circuit_open(fallback):
            return fallback
        return provider

    def observe(self, provider: str, results: list[SendResult]) -> None:
        """Update pauses and the circuit from one call's results."""
        # A sender that cannot be written stopped the call before it was made: it says nothing of the provider.
        results = [result for result in results if result.halt != Halt.SENDER]
        if not results:
            return
        if any(result.halt == Halt.QUOTA for result in results):
            wait = max((r.retry_after or 0.0) for r in results) or _until_midnight()
            self.pause(provider, wait, "quota used up")
        throttled = [r.retry_after for r in results if r.outcome == Outcome.TRANSIENT and r.retry_after]
        if throttled:
            self.pause(provider, max(t for t in throttled if t is not None), "provider asked to retry later")
        failures = provider_health.key(provider, "failures")
        if all(result.outcome == Outcome.TRANSIENT for result in results):
            count = int(self.client.incr(failures))
            self.client.expire(failures, int(self.settings.failover_cooldown * 2))
            if count >= self.settings.failover_after:
                self.client.set(provider_health.key(provider, "circuit"), "open", px=int(self.settings.failover_cooldown * 1000))
                self.client.delete(failures)
        else:
            self.client.delete(failures)


def _until_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=QUOTA_RESET_HOUR, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()
