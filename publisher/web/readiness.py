"""``GET /readyz``: whether this process can do its work now, for load balancers and compose.

``/healthz`` says the process is alive; ``/readyz`` says its database answers,
its Redis answers and the database's schema is the one this code expects
(a deployment whose migrations have not run, or a database migrated by a
newer version). The answer names the failed checks and nothing else: no
error text, which could quote a URL with its password.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from publisher.core.broker import probe, redis_url
from publisher.core.settings import Settings
from publisher.db.engine import READ_ONLY, Database, schema_is_current

log = logging.getLogger(__name__)

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
#: The order the checks run and are reported in.
CHECKS = ("database", "redis", "migrations")


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def failed(self) -> list[str]:
        return [name for name in CHECKS if self.checks[name] == FAILED]

    @property
    def ready(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ready" if self.ready else "unready"}
        if not self.ready:
            body["failed"] = self.failed
        body["checks"] = self.checks
        return body


def readiness(settings: Settings, db: Database) -> Readiness:
    """Run every check; the migrations check is skipped when the database does not answer."""
    database = _check("database", lambda: _select_one(db))
    checks = {
        "database": database,
        "redis": _check("redis", lambda: _ping(settings)),
        "migrations": _check("migrations", lambda: schema_is_current(db.engine)) if database == OK else SKIPPED,
    }
    return Readiness(checks)


def _select_one(db: Database) -> bool:
    # A read connection: on SQLite it neither waits for a writer's lock nor takes it.
    with db.engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        return bool(connection.execute(text("SELECT 1")).scalar() == 1)


def _ping(settings: Settings) -> bool:
    with probe(redis_url(settings, start=False), settings.redis_sentinel_master) as client:
        return bool(client.ping())


def _check(name: str, check: Callable[[], bool]) -> str:
    try:
        passed = check()
    except (SQLAlchemyError, redis.RedisError, OSError) as exc:
        # Its type only: a driver's message may quote the URL it failed to reach.
        log.warning("readiness: the %s check failed (%s)", name, type(exc).__name__)
        return FAILED
    if not passed:
        log.warning("readiness: the %s check failed", name)
    return OK if passed else FAILED
