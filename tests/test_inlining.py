"""premailer, configured for responsive email: each override of its defaults is checked here."""

from __future__ import annotations

import logging
import re

import pytest
from publisher.content.recap import load_recap, parse_recap
from publisher.content.rendering import layout
from publisher.content.rendering.layout import IssueFrame, render_issue
from publisher.content.rendering.personalize import Recipient

from tests.conftest import EXAMPLES

FRAME = IssueFrame(list_name="attendees", postal_address="1 Test Street, London")
MODU = EXAMPLES / "recaps" / "modu-product-vs-tech.md"


def media_blocks(html: str) -> list[str]:
    return re.findall(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)", html)


def test_important_survives_inside_media_queries() -> None:
    html = render_issue(load_recap(MODU), FRAME).html
    blocks = media_blocks(html)
    assert any("max-width" in html.split(block)[0].rsplit("@media", 1)[1] for block in blocks)
    declarations = [d for block in blocks for d in re.findall(r"\{([^{}]*)\}", block)]
    assert declarations
    for group in declarations:
        for declaration in filter(None, (part.strip() for part in group.split(";"))):
            assert declaration.endswith("!important"), declaration


def test_explicit_image_sizes_are_not_overwritten_by_css() -> None:
    recap = parse_recap("---\ntitle: Images\n---\n![A chart](https://example.com/c.png){width=300 height=200}\n", "img.md")
    html = render_issue(recap, FRAME).html
    image = re.search(r"<img[^>]*>", html)
    assert image is not None
    assert 'width="300"' in image.group(0) and 'height="200"' in image.group(0)
    assert "height:auto" in image.group(0)


def test_image_without_size_gets_the_container_width() -> None:
    recap = parse_recap("---\ntitle: Images\n---\n![A chart](https://example.com/c.png)\n", "img.md")
    assert 'width="600"' in render_issue(recap, FRAME).html


def test_inlining_logs_no_cssutils_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        render_issue(load_recap(MODU), FRAME)
    assert [record for record in caplog.records if record.name.startswith("CSSUTILS") or "cssutils" in record.name.lower()] == []


def test_inlining_keeps_classes_and_styles_inline() -> None:
    html = render_issue(load_recap(MODU), FRAME).html
    assert re.search(r"<h1 style=[^>]*font-size:30px", html)
    assert 'class="button"' in html  # the mobile rules still find their targets


def test_premailer_runs_once_per_issue_not_per_recipient(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = layout.inline_css

    def counting(html: str) -> str:
        calls.append(len(html))
        return original(html)

    monkeypatch.setattr(layout, "inline_css", counting)
    issue = render_issue(load_recap(MODU), FRAME)
    for index in range(200):
        issue.personalise(Recipient(f"p{index}@example.com", "P", str(index), "https://n.example/u", "https://n.example/v"))
    assert len(calls) == 1


def test_links_are_never_rewritten() -> None:
    out = layout.inline_css('<html><head></head><body><a href="NLabcX">x</a> <a href="/relative">y</a></body></html>')
    assert 'href="NLabcX"' in out and 'href="/relative"' in out
