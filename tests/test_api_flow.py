"""Marketing's whole flow through the HTTP API alone: import, draft, preview, test copy, send, watch, report.

A real worker sends through the fake Postmark; the test speaks to the
service only over HTTP (the token is made as ``newsletter tokens create``
makes it).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from publisher.core.settings import Settings
from publisher.db.engine import Database
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.api import Api, token
from tests.support.audience import CSV, ZOE
from tests.support.recaps import WORKSHOP
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Bound on the whole send: only a broken pipeline gets near it.
SEND_BOUND = 60.0


def test_a_campaign_goes_from_draft_to_report_over_http(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    serve_web: ServeWeb,
    start_worker: StartWorker,
) -> None:
    web_settings = settings.model_copy(update={"postmark_api_key": SecretStr(TOKEN), "postmark_base_url": fake_postmark.base_url})
    base_url = serve_web(web_settings)
    start_worker({**postmark_env, "NEWSLETTER_PUBLIC_URL": base_url})
    api = Api(base_url, token(db))

    imported = api.post("/lists/attendees/subscribers", data=CSV.read_bytes(), headers={"Content-Type": "text/csv"}).json()
    assert imported["added"] == 25 and imported["rejected"] == []

    created = api.post("/campaigns", json={"list": "attendees", "provider": "postmark", "recap": WORKSHOP.read_text(encoding="utf-8")})
    assert created.status_code == 201, created.text
    campaign: dict[str, Any] = created.json()
    assert campaign["status"] == "draft" and campaign["lint"]["ok"], campaign["lint"]

    preview = api.get(f"/campaigns/{campaign['id']}/preview", params={"subscriber": ZOE})
    assert preview.status_code == 200 and "Thank you for joining us, Zoë." in preview.text

    test_copy = api.post(f"/campaigns/{campaign['id']}/test", json={"to": ["qa@modu.example"]})
    assert test_copy.status_code == 202
    wait_until(lambda: "qa@modu.example" in fake_postmark.recipients())
    [arrived] = [message for message in fake_postmark.accepted if message.to == "qa@modu.example"]
    assert arrived.subject == "[TEST] Your notes from the Modu roadmap workshop"
    assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "draft"

    sent = api.post(f"/campaigns/{campaign['id']}/send")
    assert sent.status_code == 202 and sent.json()["recipients"] == 25

    def complete() -> bool:
        progress = api.get(f"/campaigns/{campaign['id']}").json()
        return bool(progress["status"] == "complete" and progress["finished"])

    wait_until(complete, SEND_BOUND)
    report = api.get(f"/campaigns/{campaign['id']}/report").json()
    assert (report["recipients"], report["sent"], report["failed"], report["pending"]) == (25, 25, 0, 0)
    issue = [m for m in fake_postmark.accepted if m.subject == "Your notes from the Modu roadmap workshop"]
    assert len(issue) == 25 and len({m.to for m in issue}) == 25
