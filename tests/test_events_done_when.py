"""The whole event flow, as marketing lives it, with real components throughout.

From a fresh database: a Luma guest export with check-ins is imported; the
two audiences have the right counts; the event is ended; after the recap
delay a real worker's sweep has made the two drafts; the recap is taken
from the event's blog post; it is previewed in the console; each draft is
sent to its audience and delivered by the worker to the (fake) provider.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.content.drafting import read_draft
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Role
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.api import Api, token
from tests.support.blog import POST, serving_blog
from tests.support.cli import run_cli
from tests.support.console import TIMEOUT, add_person, sign_in
from tests.support.paths import FIXTURES
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LUMA_EXPORT = FIXTURES / "events" / "luma-guests.csv"
SLUG = "product-vs-tech"
#: Approved guests of the export who checked in, and those who did not.
CHECKED_IN = {"ada.lovelace@example.com", "grace.hopper@example.com", "alan.turing@example.org"}
NOT_CHECKED_IN = {"katherine.johnson@example.org", "edsger.dijkstra@example.com"}
EDITOR = "eve@modu.example"


def recap_drafts(db: Database) -> dict[str, int]:
    """The event's recap drafts by audience list name."""
    with db.transaction() as session:
        drafts = session.scalars(select(Campaign).where(Campaign.recap_event_id.is_not(None)))
        return {campaign.mailing_list.name: campaign.id for campaign in drafts if campaign.mailing_list is not None}


def show(env: dict[str, str]) -> dict[str, str]:
    shown = run_cli(env, "events", "show", SLUG)
    assert shown.returncode == 0, shown.output
    return dict(line.split(": ", 1) for line in shown.output.splitlines() if ": " in line)


def test_from_a_luma_export_to_each_audience_getting_its_recap(
    tmp_path: Path,
    settings: Settings,
    db: Database,
    env: dict[str, str],
    fake_postmark: FakeProviders,
    serve_web: ServeWeb,
    start_worker: StartWorker,
) -> None:
    overrides = {
        "NEWSLETTER_PROVIDER": "postmark",
        "NEWSLETTER_POSTMARK_API_KEY": TOKEN,
        "NEWSLETTER_POSTMARK_BASE_URL": fake_postmark.base_url,
        "NEWSLETTER_EVENT_RECAP_DELAY": "2",
        "NEWSLETTER_SWEEP_INTERVAL": "1",
        "NEWSLETTER_FETCH_ALLOW_LOOPBACK": "true",
    }
    env = {**env, **overrides}
    web_settings = settings.model_copy(
        update={
            "provider": "postmark",
            "postmark_api_key": TOKEN,
            "postmark_base_url": fake_postmark.base_url,
            "fetch_allow_loopback": True,
        }
    )
    web = serve_web(web_settings)
    add_person(db, EDITOR, Role.SENDER)

    # 1. A Luma export with check-ins.
    imported = run_cli(env, "events", "import", LUMA_EXPORT, "--event", SLUG, "--name", "Product vs Tech")
    assert imported.returncode == 0, imported.output

    # 2. The two audiences, with the right counts (nobody is a no-show before the end).
    before = show(env)
    assert (before["attended"], before["no-show"]) == (str(len(CHECKED_IN)), "0")

    # 3. The event ends.
    ended = run_cli(env, "events", "end", SLUG)
    assert ended.returncode == 0, ended.output
    after = show(env)
    assert (after["attended"], after["no-show"]) == (str(len(CHECKED_IN)), str(len(NOT_CHECKED_IN)))
    listed = json.loads(run_cli(env, "events", "list", "--json").output)
    assert [(event["slug"], event["registered"], event["attended"]) for event in listed] == [
        (SLUG, len(CHECKED_IN) + len(NOT_CHECKED_IN), len(CHECKED_IN))
    ]

    # 4. The recap delay passes; a real worker's sweep makes the two drafts.
    start_worker(env)
    wait_until(lambda: len(recap_drafts(db)) == 2)
    drafts = recap_drafts(db)
    assert set(drafts) == {f"event:{SLUG}:attended", f"event:{SLUG}:no-show"}

    # 5. The recap, from the event's blog post.
    with serving_blog() as blog:
        written = run_cli(env, "recap", "from-url", blog.url(POST), "--event", SLUG, "-o", tmp_path / "recap.md")
    assert written.returncode == 0, written.output
    recap = read_draft((tmp_path / "recap.md").read_text(encoding="utf-8"))
    assert "Product vs Tech" in recap.meta.title
    api = Api(web, token(db))
    for draft in drafts.values():
        changed = api.patch(f"/campaigns/{draft}", json={"body": recap.body})
        assert changed.status_code == 200, changed.text

    # 6. Previewed in the console: the event's recap, as a reader will get it.
    editor = sign_in(web, EDITOR)
    page = editor.get(f"{web}/console/campaigns/{drafts[f'event:{SLUG}:attended']}", timeout=TIMEOUT)
    assert page.status_code == 200
    frames = re.findall(r'src="(/console/previews/[^"]+)"', page.text)
    assert frames, "the draft page frames its preview"
    preview = editor.get(web + frames[0], timeout=TIMEOUT)
    assert "Thank you for coming to Product vs Tech" in preview.text
    assert "Not a War, But a Marriage" in preview.text  # a heading of the blog post
    assert "because you registered for Product vs Tech" in preview.text

    # 7. Each draft is sent to its audience and delivered once to each member.
    for draft in drafts.values():
        sent = api.post(f"/campaigns/{draft}/send", json={})
        assert sent.status_code == 202, sent.text
    for draft in drafts.values():
        wait_until(lambda draft=draft: _status(db, draft) is CampaignStatus.COMPLETE)  # type: ignore[misc]
    delivered = [(message.to, message.subject) for message in fake_postmark.accepted]
    # The editors' notice that the drafts were ready went out once too.
    assert delivered.count((EDITOR, "Recap drafts ready: Product vs Tech")) == 1
    recaps = [item for item in delivered if item[0] != EDITOR]
    assert sorted(recaps) == sorted(
        [(address, "Thank you for coming to Product vs Tech") for address in CHECKED_IN]
        + [(address, "Here's what you missed at Product vs Tech") for address in NOT_CHECKED_IN]
    )


def _status(db: Database, campaign_id: int) -> CampaignStatus:
    with db.transaction() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    assert status is not None
    return CampaignStatus(status)
