"""The marketing flow in a real Chromium against the served console, a real worker and the fake provider.

Sign in; write the seed recap as a new campaign; preview it at 375 and 600
px; send a test (it reaches the fake); send now and confirm; watch progress
reach complete without a reload; read the report; export the CSV. Leaves
screenshots under var/screenshots/ and copies them to docs/screenshots/,
where docs/console.md shows them.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Role
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.audience import people
from tests.support.chromium import SCREENSHOTS, chromium
from tests.support.console import PASSWORD, add_person
from tests.support.console_drafts import form_of
from tests.support.environment import environment_for
from tests.support.paths import PROJECT
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DOCS_SCREENSHOTS = PROJECT / "docs" / "screenshots"
ADA = "ada@modu.example"
ATTENDEES = 25
#: Generous: a busy machine may take a while, and only a broken flow gets near it.
SLOW = 60_000


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1280, "height": 900}, accept_downloads=True) as context:
        context.set_default_timeout(SLOW)
        expect.set_options(timeout=SLOW)
        yield context


def accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    violations = Axe().run(page).response["violations"]
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def shot(page: Page, name: str, *, element: str | None = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    if element:
        page.locator(element).first.screenshot(path=str(path))
    else:
        # Chromium paints a frame outside the viewport blank in a full-page capture: make the viewport the whole page.
        size = page.viewport_size or {"width": 1280, "height": 900}
        page.set_viewport_size({"width": size["width"], "height": page.evaluate("() => document.documentElement.scrollHeight")})
        page.screenshot(path=str(path))
        page.set_viewport_size(size)
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)


def test_marketing_flow_from_sign_in_to_export(
    db: Database,
    settings: Settings,
    redis_client: redis.Redis,
    fake_postmark: FakeProviders,
    serve_web: ServeWeb,
    start_worker: StartWorker,
    browser: BrowserContext,
    tmp_path: Path,
) -> None:
    postmark = settings.model_copy(update={"provider": "postmark", "postmark_api_key": TOKEN, "postmark_base_url": fake_postmark.base_url})
    people(db)
    add_person(db, ADA, Role.SENDER)
    start_worker(environment_for(postmark, NEWSLETTER_PROVIDER="postmark", NEWSLETTER_POSTMARK_API_KEY=TOKEN,
                                 NEWSLETTER_POSTMARK_BASE_URL=fake_postmark.base_url))  # fmt: skip
    base = serve_web(postmark)
    page = browser.new_page()

    # 1. Sign in.
    page.goto(f"{base}/console/campaigns")
    page.get_by_label("Email").fill(ADA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()

    # 2. A new campaign from the seed recap's fields.
    page.get_by_role("link", name="New campaign").click()
    fields = form_of(provider="postmark")
    labels = {
        "title": "Title", "subject": "Subject", "preheader": "Preheader", "event_name": "Event name", "venue": "Venue",
        "cta_text": "Button text", "cta_url": "Button link", "body": "Body",
    }  # fmt: skip
    for name, label in labels.items():
        page.get_by_label(label, exact=True).fill(str(fields[name]))
    page.get_by_label("Event date").fill(str(fields["event_date"]))
    page.evaluate("() => { window.sameForm = true; }")
    for index, (title, description) in enumerate(zip(fields["resource_title"], fields["resource_description"], strict=True)):
        page.get_by_role("button", name="Add resource").click()
        expect(page.get_by_label("Resource title")).to_have_count(index + 1)
        page.get_by_label("Resource title").nth(index).fill(title)
        page.get_by_label("Resource description").nth(index).fill(description)
    # htmx swapped the rows in place (no reload), and what was typed before is still there.
    assert page.evaluate("() => window.sameForm") is True
    expect(page.get_by_label("Title", exact=True)).to_have_value(str(fields["title"]))
    page.get_by_label("List").select_option(label=f"attendees ({ATTENDEES} recipients)")
    page.get_by_label("Provider").select_option("postmark")
    # The live preview follows the typing.
    with page.expect_response(lambda r: r.url.endswith("/console/campaigns/preview") and "learned%20here" in (r.request.post_data or "")):
        page.get_by_label("Subject").fill("Product vs Tech: what we learned here")
    expect(page.locator("#preview iframe")).to_have_count(2)
    for nth in (0, 1):
        typed = page.frame_locator(f"#preview iframe >> nth={nth}")
        expect(typed.get_by_role("heading", level=1)).to_have_text(str(fields["title"]))
        expect(typed.get_by_text("The Geek Way").first).to_be_visible()
    shot(page, "new-campaign")
    accessible(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    campaign_url = page.url.split("?")[0]

    # 3. The preview at both widths.
    for width in (375, 600):
        frame = page.get_by_title(f"Email preview at {width} px")
        expect(frame).to_have_attribute("sandbox", "")
        box = frame.bounding_box()
        assert box is not None and abs(box["width"] - width) <= 2, box
        expect(page.frame_locator(f"iframe[title='Email preview at {width} px']").get_by_role("heading", level=1)).to_be_visible()
        shot(page, f"preview-{width}", element=f"iframe[title='Email preview at {width} px']")
    shot(page, "draft")
    accessible(page)

    # 4. Send test: it reaches the fake provider.
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent")
    wait_until(lambda: ADA in fake_postmark.recipients())
    test_copy = next(a.raw for a in fake_postmark.accepted if a.to == ADA)
    assert test_copy["Subject"].startswith("[TEST] ")

    # 5. Send now, and confirm with the number of recipients.
    page.get_by_role("button", name="Send now").click()
    confirm = page.get_by_role("button", name="Confirm send")
    expect(confirm).to_be_disabled()
    page.get_by_label("Number of recipients").fill(str(ATTENDEES - 1))
    expect(confirm).to_be_disabled()
    page.get_by_label("Number of recipients").fill(str(ATTENDEES))
    expect(confirm).to_be_enabled()
    shot(page, "confirm-send")
    accessible(page)
    confirm.click()
    page.wait_for_url(f"{campaign_url}?notice=sent")

    # 6. Progress reaches complete on the page, without a reload.
    page.evaluate("() => { window.stillThisPage = true; }")
    expect(page.locator(".campaign-status")).to_have_text("complete", timeout=SLOW)
    assert page.evaluate("() => window.stillThisPage") is True
    # The controls follow too: a complete campaign has nothing to pause or cancel.
    expect(page.get_by_text("Nothing to control: the campaign is complete.")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    # 7. The report shows the counts.
    expect(page.locator("[data-figure='recipients']")).to_have_text(str(ATTENDEES))
    expect(page.locator("[data-figure='sent']")).to_have_text(str(ATTENDEES))
    expect(page.get_by_role("img", name="Outcomes")).to_be_visible()
    shot(page, "campaign")
    accessible(page)
    sent_to = [address for address in fake_postmark.recipients() if address != ADA]
    assert len(sent_to) == len(set(sent_to)) == ATTENDEES

    # 8. Export CSV: one row per recipient.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    with saved.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["email", "state", "provider", "attempts", "sent_at", "last_error"]
    assert len(rows) == 1 + ATTENDEES and {row[1] for row in rows[1:]} == {"sent"}
