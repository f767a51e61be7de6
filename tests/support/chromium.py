"""Debian's Chromium under Playwright, as every browser test here launches it (DESIGN.md, "Headless Chromium").

Playwright never downloads a browser here; a test skips, with the reason,
when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.support.console import PASSWORD
from tests.support.paths import PROJECT

CHROMIUM = Path("/usr/bin/chromium")
# The fresh --user-data-dir is the persistent context's temporary profile directory.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = PROJECT / "var" / "screenshots"
#: Milliseconds a browser step may take on a busy machine.
SLOW = 60_000


@contextmanager
def chromium(**options: Any) -> Iterator[BrowserContext]:
    """Headless Chromium on a fresh temporary profile; ``options`` go to Playwright's ``launch_persistent_context``.

    Skips the test, saying how to install it, when /usr/bin/chromium is missing.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **options
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def console_browser() -> Iterator[BrowserContext]:
    """Chromium at a desktop's size for the console, each step and expectation allowed SLOW on a busy machine."""
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        context.set_default_timeout(SLOW)
        expect.set_options(timeout=SLOW)
        yield context


def sign_in_page(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the console's sign-in form the page shows."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
