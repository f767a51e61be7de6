"""schemathesis against the app's own OpenAPI document: no generated request gets a 5xx.

The fuzzer runs as its command-line tool against the real app on a loopback
port, seeded with a public list so sign-ups and the archive have data to
serve. Webhook secrets are set, so generated webhook calls exercise the
signature checks rather than the "not configured" branch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from publisher.core.settings import Settings
from publisher.db.engine import open_database
from publisher.db.models import MailingList
from tests.support.fuzzing import RUN_TIMEOUT, fuzz
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_no_generated_request_gets_a_server_error(settings: Settings, serve_web: ServeWeb, tmp_path: Path) -> None:
    db = open_database(settings.resolved_database_url)
    with db.transaction() as session:
        session.add(MailingList(name="attendees", public=True))
    db.dispose()
    configured = settings.model_copy(
        update={
            "postmark_webhook_username": "hook",
            "postmark_webhook_password": SecretStr("fuzz-password"),
            "mailgun_webhook_signing_key": SecretStr("key-fuzz"),
            "resend_webhook_secret": SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "subscribe_ip_limit": 1_000_000,
        }
    )
    url = serve_web(configured)
    # /v1 answers only with a token: tests/test_api_schema.py fuzzes it, authenticated.
    options = ("--checks", "not_a_server_error", "--max-examples", "25", "--seed", "20261130", "--exclude-path-regex", "^/v1/")
    summary = fuzz(url, tmp_path / "schemathesis.json", *options)
    paths = requests.get(f"{url}/openapi.json", timeout=5).json()["paths"]
    operations = sum(len(methods) for path, methods in paths.items() if not path.startswith("/v1/"))
    # Every operation of the document was exercised, none failed or errored.
    assert summary["operations"]["tested"] == operations > 1
    assert summary["test_cases"]["generated"] >= operations
    assert summary["failures"] == summary["errors"] == []
