"""The campaign page's opens and clicks: human and machine side by side with rates, the charts over time, the top links."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import time_machine
from axe_playwright_python.sync_playwright import Axe
from markupsafe import escape
from playwright.sync_api import BrowserContext, Locator, Page, expect

from publisher.accounts.sessions import SignedIn
from publisher.core.links import signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import EngagementKind, EventType, Role
from publisher.web.console.campaign_page import fragments
from publisher.web.console.progress import live
from publisher.web.deps import WebContext
from publisher.web.engagement_cache import REFRESH
from tests.support.chromium import SCREENSHOTS, chromium, sign_in_page
from tests.support.console import TIMEOUT, add_person, sign_in
from tests.support.engagements import FIRST, LINKS, PEOPLE, after, engage, provider_event, seed_engagements, sent_campaign
from tests.support.paths import PROJECT

VIC = "vic@modu.example"
PHONE = 375
#: The right edge of the furthest right element of the section: past the viewport, the page scrolls sideways.
RIGHTMOST = "() => Math.max(...[...document.querySelectorAll('section.engagement *')].map(e => e.getBoundingClientRect().right))"


def page_of(web_url: str, campaign_id: int) -> str:
    viewer = sign_in(web_url, VIC)
    answer = viewer.get(f"{web_url}/console/campaigns/{campaign_id}", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def cell(page: str, attribute: str, name: str) -> str:
    found = re.search(rf'data-{attribute}="{name}">([^<]*)<', page)
    assert found, name
    return found.group(1)


def test_the_page_shows_human_and_machine_figures_with_rates_the_charts_and_the_top_links(
    db: Database, settings: Settings, tmp_path: Path, web_url: str
) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    add_person(db, VIC, Role.VIEWER)
    page = page_of(web_url, seeded.campaign_id)
    figures = {name: cell(page, "figure", name) for name in ("opened_human", "opened_machine", "clicked_human", "clicked_machine")}
    assert figures == {"opened_human": "3", "opened_machine": "2", "clicked_human": "3", "clicked_machine": "1"}
    rates = {name: cell(page, "rate", name) for name in figures}
    assert rates == {"opened_human": "50.0%", "opened_machine": "33.3%", "clicked_human": "50.0%", "clicked_machine": "16.7%"}
    assert "Rates are shares of the 6 sent." in page
    # The charts: an accessible name with the totals and the busiest bucket, and a table of the buckets with anyone in them.
    assert 'aria-label="Opens over time: 3 human, 2 machine only, from 2 Mar 14:00 UTC. Most in the hour from 2 Mar 14:00' in page
    assert 'aria-label="Clicks over time: 3 human, 1 machine only, from 2 Mar 14:00 UTC.' in page
    assert page.count('class="bar first"') == 6 and page.count('class="bar second"') == 2
    assert page.count(">by day from here<") == 2  # the line where the columns turn daily, on each chart
    # Times in UTC, and a key in words: which part of a column is whom.
    assert "<figcaption>Opens over time (UTC)</figcaption>" in page and "<figcaption>Clicks over time (UTC)</figcaption>" in page
    assert page.count("human: lower part of each column</li>") == 2 and page.count("machine only: upper part</li>") == 2
    assert '<tr><th scope="row">4 Mar 14:00</th><td>day</td>' in page
    links = re.findall(r'<tr><td class="break">([^<]+)</td><td class="number">(\d+)</td><td class="number">(\d+)</td></tr>', page)
    assert links == [(LINKS[1], "2", "1"), (LINKS[0], "1", "1"), (LINKS[2], "0", "1")]
    # The provider's own events beside them, unclassified, with their rates.
    assert (cell(page, "figure", "opened"), cell(page, "rate", "opened")) == ("0", "0.0%")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_untracked_campaign_shows_human_and_machine_as_unknown_and_the_provider_events_with_rates(
    db: Database, settings: Settings, tmp_path: Path, web_url: str
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    add_person(db, VIC, Role.VIEWER)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[2], EventType.OPENED, FIRST)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[3], EventType.OPENED, FIRST)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[3], EventType.CLICKED, FIRST, detail=LINKS[0])
    page = page_of(web_url, seeded.campaign_id)
    assert "Not tracked: this campaign's emails carried no open pixel and no tracked links, so who opened and clicked" in page
    # Unknown is not zero, and the provider's own events are shown with their rates.
    for name in ("opened_human", "opened_machine", "clicked_human", "clicked_machine"):
        assert cell(page, "figure", name) == "unknown (not tracked)"
        assert f'data-rate="{name}"' not in page
    assert (cell(page, "figure", "opened"), cell(page, "rate", "opened")) == ("2", "33.3%")
    assert (cell(page, "figure", "clicked"), cell(page, "rate", "clicked")) == ("1", "16.7%")
    # The outcomes chart draws the provider's figures, not zeros.
    assert "opened (provider): 2, clicked (provider): 1" in page and "(human)" not in page
    assert "Opens over time" not in page and "Top links" not in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hostile_url_a_provider_reported_is_shown_as_text(db: Database, settings: Settings, tmp_path: Path, web_url: str) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    add_person(db, VIC, Role.VIEWER)
    hostile = 'javascript:alert(1)//"><script>alert(2)</script><img src=x onerror=alert(3)>' + "x" * 1900
    provider_event(db, settings, seeded.campaign_id, PEOPLE[0], EventType.CLICKED, FIRST, detail=hostile)
    page = page_of(web_url, seeded.campaign_id)
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert f'<td class="break">{escape(hostile)}</td>' in page
    assert 'href="javascript:' not in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_in_a_browser_the_charts_are_named_readable_at_phone_width_and_pass_axe(
    db: Database, settings: Settings, tmp_path: Path, web_url: str
) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    add_person(db, VIC, Role.VIEWER)
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        page = campaign_page_of(context, web_url, seeded.campaign_id)
        section = page.locator("section.engagement")
        for name in ("Opens over time", "Clicks over time"):
            expect(section.get_by_role("img", name=re.compile(f"^{name}: "))).to_be_visible()
        expect(section.get_by_role("table", name="Unique opens and clicks")).to_be_visible()
        expect(section.get_by_role("table", name=re.compile("^Top links"))).to_be_visible()
        shoot(section, "console-engagement-desktop.png")
        # docs/console.md shows it.
        shutil.copyfile(SCREENSHOTS / "console-engagement-desktop.png", PROJECT / "docs" / "screenshots" / "console-engagement.png")
        violations = Axe().run(page, context="section.engagement").response["violations"]
        assert [(v["id"], v["impact"]) for v in violations if v["impact"] in ("serious", "critical")] == []
        page.set_viewport_size({"width": PHONE, "height": 900})
        chart = section.get_by_role("img", name=re.compile("^Opens over time: "))
        box = chart.bounding_box()
        assert box is not None and box["width"] <= PHONE
        widest = page.evaluate(RIGHTMOST)
        assert widest <= PHONE, widest
        assert rightmost_cell(section.get_by_role("table", name="Unique opens and clicks")) <= PHONE
        shoot(section, "console-engagement-phone.png")


def campaign_page_of(context: BrowserContext, web_url: str, campaign_id: int) -> Page:
    """The campaign's page in the browser, signed in there as the viewer VIC."""
    page = context.new_page()
    page.goto(f"{web_url}/console/sign-in")
    sign_in_page(page, VIC)
    page.wait_for_url(f"{web_url}/console/campaigns")
    page.goto(f"{web_url}/console/campaigns/{campaign_id}")
    return page


def rightmost_cell(table: Locator) -> float:
    """The right edge of the table's furthest right cell."""
    right: float = table.evaluate("t => Math.max(...[...t.querySelectorAll('th, td')].map(c => c.getBoundingClientRect().right))")
    return right


def shoot(element: Locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    element.screenshot(path=str(SCREENSHOTS / name))


def test_the_live_fragment_computes_opens_and_clicks_at_most_every_30_seconds_and_a_page_load_at_once(
    db: Database, settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    with ThreadPoolExecutor(max_workers=1) as queuer:
        ctx = WebContext(settings, db, redis_client, signer_for(settings), queuer, provider_check=lambda settings, name: None)
        viewer = SignedIn(1, VIC, Role.VIEWER, "csrf")

        def opened() -> str:
            return cell(fragments(ctx, viewer, seeded.campaign_id).progress, "figure", "opened_human")

        with time_machine.travel(after(hours=1), tick=False) as moment:
            assert opened() == "0"
            engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.OPEN, after(hours=1))
            moment.shift(REFRESH - dt.timedelta(seconds=1))
            assert opened() == "0"  # the summary of 29 s ago, not read again
            moment.shift(dt.timedelta(seconds=1))
            assert opened() == "1"
            engage(db, seeded.campaign_id, seeded.ids[PEOPLE[1]], EngagementKind.OPEN, after(hours=1))
            # A page load reads them at once, and the fragments go on from there.
            assert live(ctx, seeded.campaign_id).report.figures["opened_human"] == 2
            assert opened() == "2"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_in_a_browser_an_untracked_campaigns_figures_fit_a_phone(db: Database, settings: Settings, tmp_path: Path, web_url: str) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[2], EventType.OPENED, FIRST)
    add_person(db, VIC, Role.VIEWER)
    with chromium(viewport={"width": PHONE, "height": 900}) as context:
        page = campaign_page_of(context, web_url, seeded.campaign_id)
        figures = page.locator("section.engagement").get_by_role("table", name="Unique opens and clicks")
        # Every cell of the figures within the screen: the provider's column is not cut off.
        assert rightmost_cell(figures) <= PHONE
        widest = page.evaluate(RIGHTMOST)
        assert widest <= PHONE, widest
        shoot(page.locator("section.engagement"), "console-engagement-untracked-phone.png")
