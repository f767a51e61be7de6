"""Every console page in Debian's Chromium, checked with axe-core: no serious or critical violation.

The pages are seeded so that their tables and forms are not empty (a list
with subscribers, a campaign, a suppression, users, a token, audit entries).
Each page leaves a full-page screenshot in var/screenshots/console-<name>.png;
the ones the documentation shows are copied to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select, update

from publisher.accounts.audit import Action, log
from publisher.accounts.roles import Actor, Scope
from publisher.accounts.tokens import create_token
from publisher.audience import suppression_list
from publisher.audience.privacy import erase
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryEvent, DeliveryState, EventType, Role, Subscriber
from publisher.events.catalogue import EventFields, create_event, end_event
from publisher.events.csv_import import import_attendees
from tests.support.audience import ZOE
from tests.support.campaigns import publish_to_attendees
from tests.support.chromium import SCREENSHOTS, chromium
from tests.support.console import PASSWORD, add_person
from tests.support.drafts import save_draft
from tests.support.paths import FIXTURES, PROJECT
from tests.support.recap_events import automatic_meetup

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN = "ada@modu.example"
#: The seeded event, imported from the Luma fixture and ended.
EVENT = "product-vs-tech"
LUMA_EXPORT = FIXTURES / "events" / "luma-guests.csv"
#: Impacts that fail the test; "minor" and "moderate" findings are printed only.
FAILING = {"serious", "critical"}
DOCS_SCREENSHOTS = PROJECT / "docs" / "screenshots"
#: The screenshots docs/console.md shows.
IN_THE_DOCS = ("lists", "import-result", "subscriber", "suppressions", "admin", "token-created", "webhook-added", "events", "event")

#: Every console page behind sign-in, as (screenshot name, path); ``{campaign_id}`` and
#: ``{subscriber_id}`` are filled from the seeded data. The campaign pages are added
#: here as they land: /console/campaigns/new, /console/campaigns/{campaign_id},
#: /console/campaigns/{campaign_id}/edit and the preview.
PAGES: list[tuple[str, str]] = [
    ("campaigns", "/console/campaigns"),
    ("new-campaign-form", "/console/campaigns/new"),
    ("draft-page", "/console/campaigns/{draft_id}"),
    ("automatic-draft", "/console/campaigns/{automatic_id}"),
    ("edit-draft", "/console/campaigns/{draft_id}/edit"),
    ("sent-campaign", "/console/campaigns/{campaign_id}"),
    ("lists", "/console/lists"),
    ("import", "/console/lists/import?list=attendees"),
    ("search", "/console/subscribers?q=example"),
    ("subscriber", "/console/subscribers/{subscriber_id}"),
    ("erase", "/console/subscribers/{subscriber_id}/erase"),
    ("suppressions", "/console/suppressions"),
    ("admin", "/console/admin"),
    ("events", "/console/events"),
    ("event", f"/console/events/{EVENT}"),
    ("attendees-import", f"/console/attendees/import?event={EVENT}"),
]


@dataclass(frozen=True)
class Seeded:
    campaign_id: int
    subscriber_id: int
    draft_id: int
    #: An event's recap draft that waits for a sender's approval.
    automatic_id: int


def seed(settings: Settings, db: Database) -> Seeded:
    """A list with subscribers and a campaign to it, suppressions, users of each role, a token and audit entries."""
    created = publish_to_attendees(settings, db)
    suppression_list.add(db, ZOE, "attendees", "asked by phone")
    suppression_list.add(db, "old.address@example.net", None, "hard bounce")
    suppression_list.add(db, "asked.to.go@example.org", None, "asked to be forgotten")
    erase(db, "asked.to.go@example.org")
    add_person(db, ADMIN, Role.ADMIN)
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        add_person(db, f"{role.value}@modu.example", role)
    create_token(db, "crm-sync", [Scope.SUBSCRIBERS_READ, Scope.SUBSCRIBERS_WRITE])
    cli = Actor(kind="cli")
    log(db, cli, Action.IMPORTED, target="list:attendees", detail="subscribers.csv: 25 added, 0 rejected")
    log(db, cli, Action.CREATED, campaign_id=created.id, target=f"campaign:{created.id}")
    with db.transaction() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))
        delivery = session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber_id)).one()
        delivery.state, delivery.provider, delivery.attempts, delivery.sent_at = DeliveryState.SENT, "postmark", 1, utcnow()
        for number, kind in enumerate((EventType.DELIVERED, EventType.OPENED, EventType.CLICKED)):
            session.add(
                DeliveryEvent(delivery_id=delivery.id, provider="postmark", type=kind, dedupe_key=f"seed-{number}", occurred_at=utcnow())
            )
    assert subscriber_id is not None
    start = dt.datetime(2026, 9, 20, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    fields = EventFields(
        name="Product vs Tech", starts_at=start, ends_at=start + dt.timedelta(hours=2), timezone="Europe/Paris", venue="Holborn, London"
    )
    create_event(db, EVENT, "luma", fields)
    import_attendees(db, settings, LUMA_EXPORT.read_bytes(), LUMA_EXPORT.name, EVENT, "luma")
    end_event(db, EVENT)
    automatic = automatic_meetup(db, settings, after=30 * 86_400)["attended"]
    return Seeded(campaign_id=created.id, subscriber_id=subscriber_id, draft_id=save_draft(settings, db), automatic_id=automatic)


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context


def violations(page: Page, name: str) -> list[str]:
    """Run axe-core on the page, save its screenshot; return the serious and critical findings."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)
    results = Axe().run(page).response
    found = []
    for violation in results["violations"]:
        line = f"{name}: {violation['id']} ({violation['impact']}): {violation['help']} at {[n['target'] for n in violation['nodes']]}"
        if violation["impact"] in FAILING:
            found.append(line)
        else:
            print(line)
    return found


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/campaigns")


def test_no_console_page_has_a_serious_or_critical_accessibility_violation(
    browser: BrowserContext, settings: Settings, db: Database, web_url: str
) -> None:
    seeded = seed(settings, db)
    page = browser.new_page()
    page.goto(f"{web_url}/console/sign-in")
    found = violations(page, "sign-in")
    sign_in(page, web_url)
    for name, path in PAGES:
        answer = page.goto(
            web_url
            + path.format(
                campaign_id=seeded.campaign_id,
                subscriber_id=seeded.subscriber_id,
                draft_id=seeded.draft_id,
                automatic_id=seeded.automatic_id,
            )
        )
        assert answer is not None and answer.status == 200, (name, path)
        found += violations(page, name)
    assert found == []
    show_in_the_docs(name for name, _ in PAGES)


def test_pages_after_a_form_have_no_serious_or_critical_accessibility_violation(
    browser: BrowserContext, settings: Settings, db: Database, web_url: str
) -> None:
    """Answers to forms: an import with rejected rows, a field error, a token and a webhook secret shown once, a refused welcome issue."""
    seeded = seed(settings, db)
    page = browser.new_page()
    sign_in(page, web_url)
    page.goto(f"{web_url}/console/lists/import?list=attendees")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "march.csv", "mimeType": "text/csv", "buffer": b"email\nnew.person@example.com\nnot-an-address\n"}]
    )
    page.get_by_role("button", name="Import CSV").click()
    page.get_by_role("table", name="Rejected rows").wait_for()
    found = violations(page, "import-result")
    page.goto(f"{web_url}/console/suppressions")
    page.get_by_label("Address").fill("not an address")
    page.get_by_role("button", name="Add suppression").click()
    page.locator("#email-error").wait_for()
    found += violations(page, "suppression-error")
    page.goto(f"{web_url}/console/admin")
    page.get_by_label("Token name").fill("newsletter-site")
    page.get_by_label("campaigns:read").check()
    page.get_by_role("button", name="Create token").click()
    page.locator("#shown-once").wait_for()
    found += violations(page, "token-created")
    page.goto(f"{web_url}/console/admin")
    page.locator("#webhook_url").fill("https://93.184.215.14/newsletter")
    page.get_by_label("campaign.completed").check()
    page.get_by_label("delivery.bounced").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#shown-once").wait_for()
    found += violations(page, "webhook-added")
    page.goto(f"{web_url}/console/attendees/import?event=product-vs-tech")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "guests.csv", "mimeType": "text/csv", "buffer": LUMA_EXPORT.read_bytes()}]
    )
    page.get_by_role("button", name="Import attendees").click()
    page.get_by_role("table", name="Skipped rows").wait_for()
    found += violations(page, "attendees-import-result")
    page.goto(f"{web_url}/console/lists")
    page.get_by_label("Welcome issue of attendees").select_option(str(seeded.campaign_id))
    # Already at /console/lists: wait for the answer to the POST (the page it redirects to), not the URL.
    with page.expect_navigation(url=f"{web_url}/console/lists"):
        page.get_by_role("button", name="Save welcome issue of attendees").click()
    assert page.get_by_label("Welcome issue of attendees").input_value() == str(seeded.campaign_id)
    # Cancelled once chosen: the page says it cannot be sent, and saving it again is refused.
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == seeded.campaign_id).values(status=CampaignStatus.CANCELLED))
    page.reload()
    page.get_by_role("button", name="Save welcome issue of attendees").click()
    page.get_by_role("alert").wait_for()
    found += violations(page, "welcome-refused")
    assert found == []
    show_in_the_docs(("import-result", "suppression-error", "token-created", "webhook-added", "attendees-import-result"))


def show_in_the_docs(taken: Iterable[str]) -> None:
    """Copy the screenshots this test took that the docs show: each test copies its own, whichever runs first."""
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in set(taken) & set(IN_THE_DOCS):
        shutil.copyfile(SCREENSHOTS / f"console-{name}.png", DOCS_SCREENSHOTS / f"console-{name}.png")
