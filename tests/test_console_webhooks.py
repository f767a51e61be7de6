"""The console's outgoing webhooks: admins only, with the session's CSRF token; the secret shown once; bad input next to its field."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import update
from svix.webhooks import Webhook

from publisher.accounts.audit import entries
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Role, WebhookEndpoint
from publisher.outgoing_webhooks.endpoints import list_endpoints
from tests.support.console import TIMEOUT
from tests.support.console_pages import console_as
from tests.support.outgoing_webhooks import add
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SHOWN_ONCE = re.compile(r'id="shown-once" type="text" readonly value="([^"]+)"')
URL = "http://127.0.0.1:8080/hooks"


@pytest.fixture
def loopback_url(settings: Settings, serve_web: ServeWeb) -> str:
    return serve_web(settings.model_copy(update={"fetch_allow_loopback": True}))


def test_an_admin_adds_an_endpoint_and_its_secret_is_shown_once(db: Database, loopback_url: str) -> None:
    admin = console_as(db, loopback_url, Role.ADMIN)
    answer = admin.post("/console/admin/webhooks/add", {"url": URL, "event": ["delivery.bounced", "campaign.sending"]})

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store", "the page with the secret is never cached"
    found = SHOWN_ONCE.search(answer.text)
    assert found, answer.text
    secret = found.group(1)
    assert secret.startswith("whsec_")
    Webhook(secret)  # a secret a Standard Webhooks library takes
    (endpoint,) = list_endpoints(db)
    assert (endpoint.url, endpoint.event_types, endpoint.created_by) == (
        URL,
        ["campaign.sending", "delivery.bounced"],
        "user:admin@modu.example",
    )
    page = admin.get("/console/admin").text
    assert URL in page and secret not in page
    (entry,) = entries(db)
    assert (entry.action, entry.target, entry.detail) == ("webhook-added", f"endpoint {endpoint.id}", URL)


def test_remove_and_enable(db: Database, loopback_url: str) -> None:
    endpoint_id, _ = add(db, URL)
    admin = console_as(db, loopback_url, Role.ADMIN)

    enabled = admin.post("/console/admin/webhooks/enable", {"endpoint": str(endpoint_id)})
    removed = admin.post("/console/admin/webhooks/remove", {"endpoint": str(endpoint_id)})

    assert (enabled.status_code, removed.status_code) == (303, 303)
    assert list_endpoints(db) == []
    assert [entry.action for entry in entries(db)] == ["webhook-removed", "webhook-enabled"]
    again = admin.post("/console/admin/webhooks/remove", {"endpoint": str(endpoint_id)})
    assert again.status_code == 404
    assert f"no webhook endpoint {endpoint_id}" in again.text


def test_an_enabled_endpoints_failures_show_the_last_answer(db: Database, loopback_url: str) -> None:
    add(db, URL)
    with db.transaction() as session:
        session.execute(update(WebhookEndpoint).values(consecutive_failures=2, last_error="HTTP 503 <b>Service</b> Unavailable"))

    page = console_as(db, loopback_url, Role.ADMIN).get("/console/admin").text

    assert "enabled (2 failed in a row; the last: HTTP 503 &lt;b&gt;Service&lt;/b&gt; Unavailable)" in page


def test_webhooks_are_for_admins_only_and_need_the_csrf_token(db: Database, loopback_url: str) -> None:
    endpoint_id, _ = add(db, URL)
    forms = (
        ("add", {"url": URL, "event": "campaign.sending"}),
        ("remove", {"endpoint": str(endpoint_id)}),
        ("enable", {"endpoint": str(endpoint_id)}),
    )
    with db.transaction() as session:
        session.execute(update(WebhookEndpoint).values(disabled_at=utcnow(), disabled_reason="failing"))
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, loopback_url, role)
        for path, form in forms:
            assert user.post(f"/console/admin/webhooks/{path}", form).status_code == 403
    admin = console_as(db, loopback_url, Role.ADMIN)
    for path, form in forms:
        no_token = requests.post(f"{loopback_url}/console/admin/webhooks/{path}", data=form, cookies=admin.client.cookies, timeout=TIMEOUT)
        assert no_token.status_code == 403, path
    (kept,) = list_endpoints(db)
    assert (kept.id, kept.enabled) == (endpoint_id, False), "nothing was added, removed or enabled"
    assert entries(db) == []


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"url": "https://10.0.0.1/x", "event": "campaign.sending"}, "webhook_url", "a private address"),
        ({"url": "https://169.254.169.254/", "event": "campaign.sending"}, "webhook_url", "a link-local address"),
        ({"url": "<script>alert(1)</script>", "event": "campaign.sending"}, "webhook_url", "&lt;script&gt;"),
        ({"url": "https://u:p@example.com/", "event": "campaign.sending"}, "webhook_url", "user name or password"),
        ({"url": "", "event": "campaign.sending"}, "webhook_url", "give the endpoint&#39;s URL"),
        ({"url": URL}, "webhook_events", "choose at least one event type"),
        ({"url": URL, "event": "<b>campaign.sent</b>"}, "webhook_events", "unknown event type &#39;&lt;b&gt;campaign.sent"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    db: Database, loopback_url: str, form: dict[str, str], field: str, message: str
) -> None:
    admin = console_as(db, loopback_url, Role.ADMIN)
    answer = admin.post("/console/admin/webhooks/add", form)

    assert answer.status_code == 400
    assert f'id="{field}-error"' in answer.text
    assert message in answer.text
    assert "<script>alert(1)</script>" not in answer.text
    assert list_endpoints(db) == []


def test_oversized_and_malformed_fields_are_client_errors(db: Database, loopback_url: str) -> None:
    admin = console_as(db, loopback_url, Role.ADMIN)
    assert admin.post("/console/admin/webhooks/add", {"url": "https://e.com/" + "a" * 3000, "event": "campaign.sending"}).status_code == 400
    assert admin.post("/console/admin/webhooks/add", {"url": URL, "event": "x" * 5000}).status_code == 400
    for value in ("abc", "0", "-3", "99999999999999999999", ""):
        assert admin.post("/console/admin/webhooks/remove", {"endpoint": value}).status_code == 400
        assert admin.post("/console/admin/webhooks/enable", {"endpoint": value}).status_code == 400
    assert list_endpoints(db) == []
