"""The sweep's cluster-wide lock, when Redis goes away while a sweep holds it (real embedded Redis, restarted)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from publisher.core.broker import EmbeddedRedis
from publisher.core.settings import Settings
from publisher.db.engine import Database
from workers import sweeper


class RedisGoneMidSweep(sweeper.Sweeper):
    """A sweeper whose Redis stops while its sweep runs, as a Redis restart does: the lock's release then fails."""

    def __init__(self, settings: Settings, embedded: EmbeddedRedis) -> None:
        super().__init__(settings, embedded.url)
        self.embedded = embedded
        self.sweeps = 0

    def sweep_events(self, db: Database) -> None:
        self.sweeps += 1
        if self.sweeps == 1:
            self.embedded.stop()  # the lock is written to disk with the rest and comes back with Redis


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lock_left_by_a_sweep_that_lost_redis_is_released_by_the_next_sweep_not_held_for_a_minute(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    embedded = EmbeddedRedis(tmp_path / "restarting-redis")
    embedded.start()
    try:
        sweeping = RedisGoneMidSweep(settings, embedded)
        with pytest.raises(redis.exceptions.ConnectionError):
            sweeping.sweep_once()
        embedded.start()
        assert embedded.client().exists(sweeper.LOCK_NAME), "the lock outlived the restart, as Redis persists it"
        sweeping.sweep_once()
        assert sweeping.sweeps == 2, "the next sweep waited for the lock to expire"
        assert not embedded.client().exists(sweeper.LOCK_NAME)
    finally:
        embedded.stop()
