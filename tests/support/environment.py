"""The test settings' secret and the process environment that hands the same settings to a subprocess."""

from __future__ import annotations

import os

from publisher.core.settings import Settings
from tests.support.paths import PROJECT

#: NEWSLETTER_SECRET_KEY of the test settings; the ``db`` fixture hashes addresses with it too.
TEST_SECRET = "test-secret-0123456789"


def environment_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Process environment that gives a subprocess the same settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_DATA_DIR": str(settings.data_dir),
            "NEWSLETTER_REDIS_URL": settings.redis_url or "",
            "NEWSLETTER_DATABASE_URL": settings.resolved_database_url,
            "NEWSLETTER_SECRET_KEY": settings.secret,
            "NEWSLETTER_POSTAL_ADDRESS": settings.postal_address,
            "NEWSLETTER_FROM": settings.from_address,
            "PYTHONPATH": str(PROJECT) + os.pathsep + env.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env
