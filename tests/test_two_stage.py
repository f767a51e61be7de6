"""The two-stage render is exactly the one-pass render: checked over random subscriber data and every example recap."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.content.recap import Recap, load_recap, parse_recap
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import IssueFrame, render_issue, render_single
from publisher.content.rendering.personalize import Recipient
from publisher.core.errors import NewsletterError
from publisher.core.links import UNSUBSCRIBE, VIEW, LinkSigner, LinkTarget
from tests.support.paths import EXAMPLES

FRAME = IssueFrame(list_name="attendees", postal_address="1 Test Street, London")
SIGNER = LinkSigner("property-secret", "https://news.example")
#: Merge tags in every context a recap can put them: text, link URL, image URL, table cell, list,
#: and whole URLs in Markdown and raw HTML links and images.
MERGE_TAGS_RECAP = """---
title: Merge tags everywhere
---
Hello *|FIRST_NAME|* *|LAST_NAME|* (*|FULL_NAME|*), from *|COMPANY|*.

[Your page for *|FIRST_NAME|*](https://example.com/p?who=*|EMAIL|*&co=*|COMPANY|* "Your page")

![Your badge](https://example.com/badge/*|COMPANY|*.png){width=200 height=100}

| Name | Company |
|------|---------|
| *|FIRST_NAME|* | *|COMPANY|* |

- item for *|EMAIL|*
  - nested *|ROLE|*

[Your site](*|WEBSITE|*) and <a href="*|WEBSITE|*/p?who=*|FIRST_NAME|*" title="raw">raw</a>

<img src="*|WEBSITE|*" alt="logo" width="10" height="10"> ![logo](*|WEBSITE|*/logo.png){width=10}
"""

RECAPS = sorted((EXAMPLES / "recaps").glob("*.md"))
safe_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
#: Whole URLs, allowed or not, with every printable character after the scheme.
schemes = st.sampled_from(["https://", "HTTP://", " mailto:", "javascript:", "java&#x09;script:", ""])
websites = safe_text | st.tuples(schemes, st.text(max_size=30)).map("".join)


@cache
def recap_named(name: str) -> Recap:
    if name == "merge-tags":
        return parse_recap(MERGE_TAGS_RECAP, "merge-tags.md")
    return load_recap(Path(name))


@cache
def stage_one(name: str) -> RenderedIssue:
    return render_issue(recap_named(name), FRAME)


@st.composite
def recipients(draw: st.DrawFn) -> Recipient:
    ids = st.integers(min_value=1, max_value=10**9)
    target = LinkTarget(draw(ids), draw(ids), draw(ids))
    return Recipient(
        email=draw(st.emails()),
        first_name=draw(safe_text),
        last_name=draw(safe_text),
        unsubscribe_url=SIGNER.url(UNSUBSCRIBE, target),
        view_url=SIGNER.url(VIEW, target),
        attributes={"company": draw(safe_text), "role": draw(safe_text), "website": draw(websites)},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from([str(path) for path in RECAPS] + ["merge-tags"]), recipient=recipients())
def test_two_stage_output_is_identical_to_a_one_pass_render(name: str, recipient: Recipient) -> None:
    assert stage_one(name).personalise(recipient) == render_single(recap_named(name), FRAME, recipient)


#: Values JSON escapes (quotes, backslashes, tab and other control characters, separators) or writes as they are.
json_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(['"\\\t\n', "\u2028 \x00 \u00e9"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from([str(path) for path in RECAPS] + ["merge-tags"]), recipient=recipients(), first_name=json_text)
def test_the_bodies_written_as_json_are_the_json_of_the_bodies(name: str, recipient: Recipient, first_name: str) -> None:
    recipient = dataclasses.replace(recipient, first_name=first_name, attributes={**recipient.attributes, "company": first_name})
    html, text = stage_one(name).personalise(recipient)
    html_json, text_json = stage_one(name).personalise_json(recipient)
    assert (bytes(html_json), bytes(text_json)) == (orjson.dumps(html), orjson.dumps(text))
    assert (html_json.length, html_json.text(), text_json.text()) == (len(orjson.dumps(html)), html, text)


def test_a_value_json_cannot_carry_is_refused_by_the_json_form_only() -> None:
    issue = stage_one(str(RECAPS[0]))
    lone = Recipient(email="a@example.com", first_name="lone \ud800", last_name="", unsubscribe_url="", view_url="")
    assert "lone \ud800" in issue.personalise(lone)[0]
    with pytest.raises(orjson.JSONEncodeError):
        issue.personalise_json(lone)


def test_merge_tags_are_escaped_in_text_and_url_encoded_in_urls() -> None:
    who = Recipient(
        email="zoë+news@example.com",
        first_name='Zoë "Z" <b>',
        last_name="O'Brien",
        unsubscribe_url="https://news.example/unsubscribe/t",
        view_url="https://news.example/view/t",
        attributes={"company": "Allica & Co/UK", "role": "PM"},
    )
    html, text = stage_one("merge-tags").personalise(who)
    assert 'Hello Zoë "Z" &lt;b&gt; O\'Brien' in html
    assert "from Allica &amp; Co/UK." in html
    assert 'href="https://example.com/p?who=zo%C3%AB%2Bnews%40example.com&amp;co=Allica%20%26%20Co%2FUK"' in html
    assert 'Your page for Zoë "Z" &lt;b&gt;</a>' in html
    assert 'src="https://example.com/badge/Allica%20%26%20Co%2FUK.png"' in html
    assert 'Hello Zoë "Z" <b> O\'Brien' in text
    assert "(https://example.com/p?who=zo%C3%AB%2Bnews%40example.com&co=Allica%20%26%20Co%2FUK)" in text


@pytest.mark.parametrize(
    "markdown",
    ["![Badge for *|FIRST_NAME|*](https://example.com/b.png){width=10 height=10}", '[page](https://example.com "For *|FIRST_NAME|*")'],
)
def test_merge_tags_in_alt_text_or_titles_are_refused(markdown: str) -> None:
    with pytest.raises(NewsletterError, match=r"x\.md:4: a merge tag in the (alt|title) attribute"):
        render_issue(parse_recap(f"---\ntitle: t\n---\n{markdown}\n", "x.md"), FRAME)


def test_the_issue_knows_which_subscriber_fields_it_uses() -> None:
    assert {"first_name", "attr_company", "attr_role", "email"} <= stage_one("merge-tags").fields
