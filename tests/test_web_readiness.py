"""GET /readyz: 200 when the database, Redis and the schema are ready; 503 naming each failed check, with no secret."""

from __future__ import annotations

import pytest
import redis
import requests
from alembic import command

from publisher.core.settings import Settings
from publisher.db.engine import alembic_config, open_database, schema_change
from tests.support.tcp_proxy import database_behind_proxy
from tests.support.types import ServeWeb
from tests.support.web import free_port

PASSWORD = "pw-never-shown-4c1"


def test_ready_when_the_database_redis_and_the_schema_are(web_url: str) -> None:
    response = requests.get(f"{web_url}/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}}
    assert requests.get(f"{web_url}/healthz", timeout=10).text == "ok"


def test_unready_naming_redis_when_it_does_not_answer(settings: Settings, serve_web: ServeWeb, caplog: pytest.LogCaptureFixture) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"})
    response = requests.get(f"{serve_web(down)}/readyz", timeout=10)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "failed": ["redis"],
        "checks": {"database": "ok", "redis": "failed", "migrations": "ok"},
    }
    assert PASSWORD not in response.text and PASSWORD not in caplog.text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_unready_naming_the_database_when_it_does_not_answer(
    settings: Settings,
    redis_client: redis.Redis,
    serve_web: ServeWeb,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with database_behind_proxy(database_url, PASSWORD) as (url, proxy):
        base = serve_web(settings.model_copy(update={"database_url": url}))
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        proxy.go_down()
        response = requests.get(f"{base}/readyz", timeout=30)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "failed": ["database"],
        "checks": {"database": "failed", "redis": "ok", "migrations": "skipped"},
    }
    assert PASSWORD not in response.text and PASSWORD not in caplog.text
    assert "Traceback" not in response.text


def test_unready_naming_the_migrations_when_the_database_is_behind(
    settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb
) -> None:
    base = serve_web(settings)
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    other = open_database(settings.resolved_database_url)
    config = alembic_config()
    with schema_change(other.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    other.dispose()
    response = requests.get(f"{base}/readyz", timeout=10)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "failed": ["migrations"],
        "checks": {"database": "ok", "redis": "ok", "migrations": "failed"},
    }


READY = {"status": "ready", "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}}


def test_readyz_ignores_hostile_oversized_and_malformed_input(web_url: str) -> None:
    """The check reads nothing of the request: hostile queries, huge or broken bodies change neither status nor answer."""
    hostile = requests.get(f"{web_url}/readyz", params={"x": "<script>\x1b[31m' OR 1=1--"}, timeout=10)
    assert (hostile.status_code, hostile.json()) == (200, READY)
    assert "<script>" not in hostile.text
    oversized = requests.get(f"{web_url}/readyz", params={"x": "a" * 6_000}, timeout=10)
    assert oversized.status_code < 500 and "Traceback" not in oversized.text
    malformed = requests.post(f"{web_url}/readyz", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert malformed.status_code == 405
