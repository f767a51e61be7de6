"""Debian's Chromium under Playwright, as every browser test here launches it (DESIGN.md, "Headless Chromium").

Playwright never downloads a browser here; a test skips, with the reason,
when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

from pathlib import Path

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
