"""Rendering: recap content is data, personal fields are filled safely, the text part reads well."""

from __future__ import annotations

import re

import pytest

from publisher.content.recap import Recap, load_recap, parse_recap
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import IssueFrame, render_issue, render_single
from publisher.content.rendering.personalize import ATTRIBUTE, Recipient, placeholder
from tests.support.paths import EXAMPLES

FRAME = IssueFrame(list_name="attendees", postal_address="1 Test Street, London")
MODU = EXAMPLES / "recaps" / "modu-product-vs-tech.md"


def recipient(**overrides: str) -> Recipient:
    values = {
        "email": "zoe@example.com",
        "first_name": "Zoë",
        "last_name": "O'Brien",
        "unsubscribe_url": "https://news.example/unsubscribe/tok?a=1&b=2",
        "view_url": "https://news.example/view/tok",
    }
    values.update(overrides)
    return Recipient(**values)


def recap(body: str, extra: str = "") -> Recap:
    return parse_recap(f"---\ntitle: Test issue\n{extra}---\n{body}\n", "test.md")


def render(body: str, who: Recipient | None = None) -> tuple[str, str]:
    return render_issue(recap(body), FRAME).personalise(who or recipient())


def test_modu_issue_renders_once_and_personalises_without_leftovers() -> None:
    issue = render_issue(load_recap(MODU), FRAME)
    html, text = issue.personalise(recipient())
    assert "Hi Zoë," in html and "Hi Zoë," in text
    for leftover in ("{{", "{%", f"NL{issue.nonce}X"):
        assert leftover not in html and leftover not in text
    assert 'href="https://news.example/unsubscribe/tok?a=1&amp;b=2"' in html
    assert len(html.encode()) < 102 * 1024


def test_recap_content_is_data_not_template_code() -> None:
    html, text = render("Seven times seven is {{ 7*7 }} and {% if x %}kept{% endif %}.")
    assert "{{ 7*7 }}" in html and "is 49" not in html
    assert "{% if x %}kept{% endif %}" in html
    assert "{{ 7*7 }}" in text


def test_raw_html_is_sanitised_not_escaped() -> None:
    html, _ = render('Hello <script>alert("x")</script><b onclick="steal()">bold</b> <a href="javascript:alert(1)">click</a>')
    assert "alert(" not in html
    assert "onclick" not in html
    assert "&lt;script" not in html
    assert "<b>bold</b>" in html
    assert "click</a>" in html and "javascript:" not in html


def test_markdown_javascript_link_keeps_text_and_loses_url() -> None:
    html, _ = render("[press here](javascript:alert(1))")
    assert "press here" in html and "javascript:" not in html


def test_content_cannot_forge_a_placeholder() -> None:
    issue = render_issue(recap("Try NLdeadbeefdeadbeefXemailX and NL0000000000000000XemailX."), FRAME)
    html, _ = issue.personalise(recipient())
    assert html.count("zoe@example.com") == 0
    assert "NLdeadbeefdeadbeefXemailX" in html


def test_subscriber_data_is_escaped_in_html_but_not_in_text() -> None:
    html, text = render("Body.", recipient(first_name='<img src=x onerror="alert(1)">'))
    assert "<img src=x" not in html
    assert 'Hi &lt;img src=x onerror="alert(1)"&gt;,' in html
    assert 'Hi <img src=x onerror="alert(1)">,' in text


@pytest.mark.parametrize("first_name", ["Zoë", "", "Anne-Marie"])
def test_two_stage_render_matches_a_one_pass_render(first_name: str) -> None:
    loaded = load_recap(MODU)
    who = recipient(first_name=first_name)
    assert render_issue(loaded, FRAME).personalise(who) == render_single(loaded, FRAME, who)


def test_placeholders_survive_premailer_inside_href() -> None:
    issue = render_issue(recap("Body."), FRAME)
    assert f'href="{placeholder(issue.nonce, "unsubscribe_url", ATTRIBUTE)}"' in issue.html


def test_every_render_gets_a_new_nonce() -> None:
    loaded = recap("Body.")
    assert render_issue(loaded, FRAME).nonce != render_issue(loaded, FRAME).nonce


def test_text_part_has_headings_lists_links_and_unsubscribe_wrapped_at_78() -> None:
    body = (
        "Intro paragraph " + "that goes on " * 12 + "with a [link](https://example.com/page).\n\n"
        "## A section\n\n- first item\n- second item\n  - nested item\n\n1. one\n2. two\n"
    )
    _, text = render(body)
    assert all(len(line) <= 78 for line in text.splitlines() if "://" not in line)
    assert "link (https://example.com/page)" in text
    assert "A section\n---------" in text
    assert "- first item\n- second item\n   - nested item" in text
    assert "1. one\n2. two" in text
    assert "Unsubscribe: https://news.example/unsubscribe/tok?a=1&b=2" in text
    assert "<" not in re.sub(r"<https?://[^>]+>", "", text)


def test_html_has_the_email_essentials() -> None:
    html, _ = render_issue(load_recap(MODU), FRAME).personalise(recipient())
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en"' in html
    assert '<meta charset="utf-8">' in html
    assert 'name="viewport"' in html
    assert html.count("<h1") == 1
    assert "1 Test Street, London" in html
    assert "!important" in html.split("@media", 1)[1]


def test_rendered_issue_round_trips_through_storage_fields() -> None:
    issue = render_issue(recap("Body."), FRAME)
    stored = RenderedIssue(html=issue.html, text=issue.text, nonce=issue.nonce)
    assert stored.personalise(recipient()) == issue.personalise(recipient())
