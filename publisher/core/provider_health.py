"""Where every worker keeps a provider's pause and circuit in Redis, and how any process reads them.

The workers write these keys (``workers.delivery.provider_state``); ``newsletter
status``, the console's campaign page and the web app's metrics read them.
The key names are the one contract between writers and readers, so they are
spelled here, below both.
"""

from __future__ import annotations

import redis

PREFIX = "newsletter:provider"


def key(provider: str, what: str) -> str:
    """The Redis key of one fact about a provider: ``paused``, ``circuit`` or ``failures``."""
    return f"{PREFIX}:{provider}:{what}"


def paused_for(client: redis.Redis, provider: str) -> float:
    """Seconds the provider stays paused for every worker (0: not paused)."""
    remaining = int(client.pttl(key(provider, "paused")))
    return max(0.0, remaining / 1000)


def circuit_open(client: redis.Redis, provider: str) -> bool:
    """Whether the provider's calls kept failing and batches go to the fallback for a cool-down."""
    return bool(client.exists(key(provider, "circuit")))
