"""The Modu issue in a real headless Chromium, exactly as a subscriber gets it.

Checks the layout at a phone width (375 px) and a desktop width (800 px) and
leaves full-page screenshots under var/screenshots/ for a person to look at.
Uses Debian's /usr/bin/chromium through Playwright; it never downloads a
browser, and skips (with the reason shown) when Chromium is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext

from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import load_recap
from publisher.core.settings import Settings
from tests.support.chromium import SCREENSHOTS, chromium
from tests.support.paths import EXAMPLES

PHONE = 375
DESKTOP = 800
CONTAINER_WIDTH = 600
VIEWPORT_HEIGHT = 800

#: Layout facts read in the page; rectangles are relative to the viewport.
MEASURE = """() => {
  const rect = (el) => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const button = document.querySelector("a.button");
  button.scrollIntoView({block: "center"});
  return {
    viewport: window.innerWidth,
    viewportHeight: window.innerHeight,
    scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    container: rect(document.querySelector("table.container")),
    button: rect(button),
    h1: rect(document.querySelector("h1")),
  };
}"""


@pytest.fixture(scope="module")
def issue_html() -> str:
    recap = load_recap(EXAMPLES / "recaps" / "modu-product-vs-tech.md")
    settings = Settings(secret_key="browser-secret-0123456789", postal_address="1 Example Street, London WC1V 7AA")
    html, _text = preview(settings, recap, SampleSubscriber(), "attendees")
    return html


@pytest.fixture(scope="module")
def browser_context() -> Iterator[BrowserContext]:
    """One Chromium for the module, on a fresh temporary profile."""
    with chromium(viewport={"width": DESKTOP, "height": VIEWPORT_HEIGHT}, offline=True) as context:
        yield context


def render_at(context: BrowserContext, html: str, width: int) -> tuple[dict[str, Any], Path]:
    """Load ``html`` at ``width`` px, save a full-page screenshot, return the measurements."""
    page = context.new_page()
    try:
        page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
        page.set_content(html, wait_until="load")
        assert page.locator("h1").is_visible()
        buttons = page.locator("a.button").all()
        assert len(buttons) == 2  # the recap's call to action, and Register for the next event
        assert all(button.is_visible() for button in buttons)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        screenshot = SCREENSHOTS / f"modu-{width}px.png"
        page.screenshot(path=str(screenshot), full_page=True)
        measured: dict[str, Any] = page.evaluate(MEASURE)
    finally:
        page.close()
    return measured, screenshot


def inside_viewport(rect: dict[str, float], measured: dict[str, Any]) -> bool:
    return bool(
        rect["width"] > 0
        and rect["height"] > 0
        and rect["x"] >= 0
        and rect["y"] >= 0
        and rect["x"] + rect["width"] <= measured["viewport"]
        and rect["y"] + rect["height"] <= measured["viewportHeight"]
    )


def report(capsys: pytest.CaptureFixture[str], screenshot: Path) -> None:
    with capsys.disabled():
        print(f"\nscreenshot: {screenshot}")


def test_phone_width_has_no_horizontal_scroll(browser_context: BrowserContext, issue_html: str, capsys: pytest.CaptureFixture[str]) -> None:
    measured, screenshot = render_at(browser_context, issue_html, PHONE)
    report(capsys, screenshot)

    assert measured["viewport"] == PHONE
    assert measured["scrollWidth"] <= PHONE, measured
    assert measured["container"]["width"] <= PHONE, measured
    assert inside_viewport(measured["button"], measured), measured
    assert measured["h1"]["x"] >= 0 and measured["h1"]["x"] + measured["h1"]["width"] <= PHONE, measured


def test_desktop_width_has_a_centred_600px_container(
    browser_context: BrowserContext, issue_html: str, capsys: pytest.CaptureFixture[str]
) -> None:
    measured, screenshot = render_at(browser_context, issue_html, DESKTOP)
    report(capsys, screenshot)

    container = measured["container"]
    assert container["width"] == CONTAINER_WIDTH, measured
    left = container["x"]
    right = measured["viewport"] - (container["x"] + container["width"])
    assert abs(left - right) <= 1, f"container not centred: {left} px left, {right} px right"
    assert measured["scrollWidth"] <= DESKTOP, measured
    assert inside_viewport(measured["button"], measured), measured
    assert container["x"] <= measured["button"]["x"] <= container["x"] + container["width"], measured
