"""Merge tags in raw HTML and Markdown: a subscriber's value never leaves the context the recap put it in.

Text is escaped; a tag in an attribute other than href and src is refused with
its recap line; a tag that starts an href or src is a whole URL, kept only with
an http, https or mailto scheme (otherwise the attribute goes); a tag later in
a URL is percent-encoded.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import lxml.html
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.content.recap import Recap, parse_recap
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import IssueFrame, render_issue, render_single
from publisher.content.rendering.personalize import Recipient, check_text_outside_tags, new_nonce, placeholder
from publisher.core.errors import NewsletterError, RenderError
from publisher.queue import QUEUE_SEND
from tests.fakes.server import FakeProviders
from tests.support.cli import run_cli
from tests.support.recaps import write_recap
from tests.support.types import StartWorker

FRAME = IssueFrame(list_name="attendees", postal_address="1 Test Street, London")
ALLOWED_SCHEMES = ("http:", "https:", "mailto:")
PHISHING_NAME = '" href="https://evil.example/phish'
TITLE_ANCHOR = '<a title="Offer for *|FIRST_NAME|*" href="https://example.com/offer">your offer</a>'
WEBSITE_ANCHOR = '<a href="*|WEBSITE|*">site</a>'


def recap(body: str) -> Recap:
    # The front matter takes lines 1 to 3: the body starts on line 4.
    return parse_recap(f"---\ntitle: Merge tags\n---\n{body}\n", "offer.md")


def recipient(first_name: str = "Zoë", **attributes: str) -> Recipient:
    return Recipient(
        email="zoe@example.com",
        first_name=first_name,
        last_name="O'Brien",
        unsubscribe_url="https://news.example/unsubscribe/tok",
        view_url="https://news.example/view/tok",
        attributes=attributes,
    )


def content(html: str) -> lxml.html.HtmlElement:
    """The recap body's cell of a rendered issue, re-parsed."""
    cells = lxml.html.document_fromstring(html).find_class("content")
    assert len(cells) == 1
    return cells[0]


def anchors(html: str) -> list[dict[str, str]]:
    """The attributes of every link in the body, but the style premailer inlines."""
    return [{name: value for name, value in anchor.attrib.items() if name != "style"} for anchor in content(html).iter("a")]


# Attributes other than href and src ------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "attribute"),
    [
        (f"Intro.\n\n{TITLE_ANCHOR}", 6, "title"),
        ('<img src="https://example.com/a.png" alt="Badge of *|FIRST_NAME|*" width="10" height="10">', 4, "alt"),
        ('Table:\n\n<table><tr><td align="*|ALIGN|*">x</td></tr></table>', 6, "align"),
        ("Intro.\n\n![Badge for *|FIRST_NAME|*](https://example.com/b.png){width=10 height=10}", 6, "alt"),
        ('[page](https://example.com "For *|FIRST_NAME|*")', 4, "title"),
    ],
)
def test_a_merge_tag_in_another_attribute_is_refused_with_its_recap_line_and_attribute(body: str, line: int, attribute: str) -> None:
    with pytest.raises(NewsletterError) as refused:
        render_issue(recap(body), FRAME)
    assert str(refused.value).startswith(f"offer.md:{line}: ")
    assert f"the {attribute} attribute" in str(refused.value)


def test_a_markdown_paragraph_swallowed_by_an_unclosed_raw_html_attribute_is_refused() -> None:
    # An HTML block may open an attribute that the next paragraph's text
    # closes: the merge tag in that text ends up inside the attribute.
    with pytest.raises(NewsletterError, match=r"offer\.md:6: .*the start attribute of <ol>"):
        render_issue(recap('<ol start="\n\nHello *|FIRST_NAME|*\n\n<b title="x">'), FRAME)


@pytest.fixture
def offer_recap(tmp_path: Path) -> Path:
    return write_recap(tmp_path / "offer.md", f"Hello.\n\n{TITLE_ANCHOR}", "title: An offer")


def cli_environment(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_REDIS_URL": "redis://127.0.0.1:1/0",
            "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "NEWSLETTER_DATA_DIR": str(tmp_path / "var"),
            "NEWSLETTER_SECRET_KEY": "merge-tag-secret-0123456789",
        }
    )
    return env


def test_lint_and_preview_refuse_a_merge_tag_in_a_title_with_exit_2(offer_recap: Path, tmp_path: Path) -> None:
    env = cli_environment(tmp_path)
    output = tmp_path / "offer.html"
    for args in (("lint", str(offer_recap)), ("preview", str(offer_recap), "-o", str(output))):
        result = run_cli(env, *args)
        assert result.returncode == 2, result.output
        assert f"{offer_recap}:6:" in result.output and "title attribute" in result.output
    assert not output.exists()


def test_publish_refuses_a_merge_tag_in_a_title_even_with_force(env: dict[str, str], redis_client: redis.Redis, offer_recap: Path) -> None:
    result = run_cli(env, "publish", str(offer_recap), "--list", "attendees", "--force")
    assert result.returncode == 2, result.output
    assert f"{offer_recap}:6:" in result.output and "title attribute" in result.output
    assert redis_client.llen(QUEUE_SEND) == 0


# href and src -----------------------------------------------------------------


def test_a_refused_whole_url_still_sends_the_email_without_the_link(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, tmp_path: Path, start_worker: StartWorker
) -> None:
    people = tmp_path / "people.csv"
    with people.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(
            [
                ("email", "first_name", "website"),
                ("mallory@example.com", PHISHING_NAME, "javascript:alert(1)"),
                ("zoe@example.com", "Zoë", "https://zoe.example/?a=1&b=2"),
            ]
        )
    body = write_recap(tmp_path / "site.md", f"Hello *|FIRST_NAME|*.\n\n{WEBSITE_ANCHOR}\n\n[again](*|WEBSITE|*)", "title: Your site")
    assert run_cli(postmark_env, "subscribers", "import", str(people), "--list", "sites").returncode == 0
    published = run_cli(postmark_env, "publish", str(body), "--list", "sites")
    assert published.returncode == 0, published.output
    start_worker(postmark_env)
    assert run_cli(postmark_env, "status", published.last_line.split()[1], "--wait", "--timeout", "60").returncode == 0
    sent = {accepted.to: accepted.raw for accepted in fake_postmark.accepted}
    assert sorted(sent) == ["mallory@example.com", "zoe@example.com"]
    assert anchors(sent["mallory@example.com"]["HtmlBody"]) == [{}, {}]
    assert "javascript" not in sent["mallory@example.com"]["TextBody"]
    assert anchors(sent["zoe@example.com"]["HtmlBody"]) == [{"href": "https://zoe.example/?a=1&b=2"}] * 2
    assert "again (https://zoe.example/?a=1&b=2)" in sent["zoe@example.com"]["TextBody"]


def test_the_issues_hostile_values_never_add_an_attribute_or_a_javascript_link() -> None:
    body = f'{WEBSITE_ANCHOR}\n\n<a href="*|FIRST_NAME|*">*|FIRST_NAME|*</a>'
    html, _text = render_issue(recap(body), FRAME).personalise(recipient(PHISHING_NAME, website="javascript:alert(1)"))
    # Both links lose their href and keep their text: the email still goes out.
    assert anchors(html) == [{}, {}]
    assert [anchor.text for anchor in content(html).iter("a")] == ["site", PHISHING_NAME]
    urls = [element.get("href") or "" for element in lxml.html.document_fromstring(html).iter() if element.get("href") is not None]
    assert urls and not [url for url in urls if "evil.example" in url or "javascript" in url]


@pytest.mark.parametrize("body", [WEBSITE_ANCHOR, '<a href=" *|WEBSITE|*">site</a>'])
def test_a_whole_url_merge_tag_in_raw_html_keeps_an_https_url(body: str) -> None:
    html, _text = render_issue(recap(body), FRAME).personalise(recipient(website="https://example.com/a?b=c&d=e"))
    assert anchors(html) == [{"href": "https://example.com/a?b=c&d=e"}]


def test_a_whole_url_merge_tag_in_a_markdown_link_is_that_url_not_a_percent_encoded_one() -> None:
    html, text = render_issue(recap("[site](*|WEBSITE|*)"), FRAME).personalise(recipient(website="https://example.com/a?b=c"))
    assert anchors(html) == [{"href": "https://example.com/a?b=c"}]
    assert "site (https://example.com/a?b=c)" in text


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", " javascript:alert(1)", "java&#x09;script:alert(1)", "\x01javascript:alert(1)", "&#106;avascript:alert(1)",
     "JaVaScRiPt:alert(1)", "data:text/html,hi", "//evil.example/", "example.com/page", ""],
)  # fmt: skip
@pytest.mark.parametrize(
    "body",
    [WEBSITE_ANCHOR, "[site](*|WEBSITE|*)", '<img src="*|WEBSITE|*" alt="logo" width="10" height="10">', '<a href=" *|WEBSITE|*">site</a>'],
)
def test_a_whole_url_merge_tag_without_an_allowed_scheme_drops_the_attribute(body: str, website: str) -> None:
    issue = render_issue(recap(body), FRAME)
    html, text = issue.personalise(recipient(website=website))
    element = next(element for element in content(html).iter("a", "img"))
    assert "href" not in element.attrib and "src" not in element.attrib
    assert "script:" not in text
    assert (html, text) == render_single(recap(body), FRAME, recipient(website=website))


def test_a_merge_tag_later_in_a_raw_html_url_stays_percent_encoded() -> None:
    body = '<a href="https://example.com/p?who=*|FIRST_NAME|*">page</a>'
    html, _text = render_issue(recap(body), FRAME).personalise(recipient(PHISHING_NAME))
    assert anchors(html) == [{"href": "https://example.com/p?who=%22%20href%3D%22https%3A%2F%2Fevil.example%2Fphish"}]


# The invariant ------------------------------------------------------------------

#: One recap with a merge tag in every context: text (Markdown and raw HTML),
#: whole-URL href and src (raw HTML and Markdown), URL parts (both), a table
#: cell and a list.
EVERY_CONTEXT = """\
Hello *|FIRST_NAME|*, from *|VALUE|*.

<p>Raw *|VALUE|* text and <b>*|FIRST_NAME|*</b></p>

<a href="*|VALUE|*">raw whole URL</a> and <a href="https://example.com/p?v=*|VALUE|*">raw URL part</a>

<img src="*|VALUE|*" alt="raw image" width="10" height="10"> <img src="https://example.com/i/*|VALUE|*.png" alt="part" width="1">

[markdown whole URL](*|VALUE|*) and [markdown URL part](https://example.com/q?v=*|VALUE|*)

![markdown image](*|VALUE|*){width=10 height=10}

<a href="*|VALUE|*/path?x=*|FIRST_NAME|*">whole URL with a part</a>

| Name | Value |
|------|-------|
| *|FIRST_NAME|* | *|VALUE|* |

- item *|VALUE|*
"""

HOSTILE = st.sampled_from(
    [
        '"', "'", "<", ">", '" onmouseover="alert(1)', "' onmouseover='alert(1)", '"><script>alert(1)</script>', "javascript:alert(1)",
        " javascript:alert(1)", "\tjavascript:", "java\nscript:", "java&#x09;script:", "&#106;avascript:", "&#x6A;avascript:",
        "\x01javascript:", "\x00", "\x85", "vbscript:", "data:text/html,<b>", "https://example.com/", "HTTPS://EXAMPLE.COM/a b",
        "mailto:zoe@example.com", "http://x/?a=1&b=2", "&amp;", "&quot;", "]]>", "<!--", "-->", " ", "/relative",
    ]
)  # fmt: skip
hostile_values = st.lists(HOSTILE | st.text(max_size=12), min_size=1, max_size=3).map("".join)


def shape(root: lxml.html.HtmlElement) -> list[tuple[str, list[str]]]:
    """Every element's tag and attribute names, in document order."""
    return [(str(element.tag), sorted(element.attrib)) for element in root.iter() if isinstance(element.tag, str)]


def url_attributes(root: lxml.html.HtmlElement) -> list[str]:
    return [element.get(name, "") for element in root.iter() for name in ("href", "src") if element.get(name) is not None]


_STAGE_ONE: dict[str, RenderedIssue] = {}


def stage_one() -> RenderedIssue:
    if "issue" not in _STAGE_ONE:
        _STAGE_ONE["issue"] = render_issue(recap(EVERY_CONTEXT), FRAME)
    return _STAGE_ONE["issue"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first_name=hostile_values, value=hostile_values)
def test_no_value_changes_the_elements_or_attributes_of_the_recap_body(first_name: str, value: str) -> None:
    issue = stage_one()
    html, _text = issue.personalise(recipient(first_name, value=value))
    filled = content(html)
    # Exactly stage 1's elements and attribute names, but for the href or src
    # a whole-URL merge tag gives: that one is there with an allowed scheme
    # or not at all.
    expected, got = shape(content(issue.html)), shape(filled)
    assert [tag for tag, _ in got] == [tag for tag, _ in expected]
    for (tag, names), (_, before) in zip(got, expected, strict=True):
        assert set(names) <= set(before), tag
        assert set(before) - set(names) <= {"href", "src"}, tag
    dropped = sum(len(before) - len(names) for (_, names), (_, before) in zip(got, expected, strict=True))
    assert dropped in (0, 5), "the five whole-URL attributes start with one value: all kept or all dropped"
    for url in url_attributes(filled):
        assert url.lower().startswith(ALLOWED_SCHEMES), url


def test_a_text_field_inside_a_tag_of_the_stage_one_html_is_refused() -> None:
    # Text is escaped as lxml writes text ('"' as it is): a layout that put a
    # text field in an attribute would let the value out of it.
    nonce = new_nonce()
    with pytest.raises(RenderError, match="'first_name' is inside a tag"):
        check_text_outside_tags(f'<p title="{placeholder(nonce, "first_name")}">x</p>', nonce)
    name, url = placeholder(nonce, "first_name"), placeholder(nonce, "view_url", "A")
    check_text_outside_tags(f'<p title="a&gt;b">{name}</p><a href="{url}">', nonce)
