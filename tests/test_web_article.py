"""Reading a page for a recap: which title and date it gives, and its article as recap Markdown that renders as the page meant."""

from __future__ import annotations

import datetime as dt

import lxml.html
import pytest

from publisher.content.from_web.html_to_markdown import article_markdown
from publisher.content.from_web.page import page_title, published, read_page
from publisher.content.rendering.markdown import MERGE_TAG, parse, to_html, walk
from publisher.core.errors import ContentError
from publisher.core.fetching import Fetched

BASE = "https://blog.modu.example/insights/post"
LONG_TEXT = "<p>" + "The panel talked about product and technology teams for a whole evening. " * 5 + "</p>"


def page(head: str = "", body: str = LONG_TEXT, charset: str | None = "utf-8", raw: bytes | None = None) -> Fetched:
    html = f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"
    return Fetched(url=BASE, media_type="text/html", charset=charset, body=raw if raw is not None else html.encode("utf-8"))


def markdown(html: str) -> str:
    return article_markdown(lxml.html.fragment_fromstring(html, create_parent="div"), BASE)


@pytest.mark.parametrize(
    ("head", "body", "title"),
    [
        ('<meta property="og:title" content="From og"><title>From title</title>', "<h1>From h1</h1>", "From og"),
        ("<title>From title | Modu Insights</title><meta property='og:site_name' content='Modu Insights'>", "<h1>h1</h1>", "From title"),
        ("<title>Product | Tech: a panel</title>", "<h1>h1</h1>", "Product | Tech: a panel"),
        ("<title>  </title>", "<h1>From <em>the</em>\nh1</h1>", "From the h1"),
        ("", "<p>no heading</p>", None),
    ],
)
def test_the_title_is_og_title_then_title_then_the_first_h1(head: str, body: str, title: str | None) -> None:
    assert page_title(lxml.html.document_fromstring(f"<html><head>{head}</head><body>{body}</body></html>")) == title


@pytest.mark.parametrize(
    ("head", "body", "date"),
    [
        pytest.param(
            '<meta property="article:published_time" content="2025-01-22T23:30:00-05:00">'
            '<script type="application/ld+json">{"datePublished": "2024-01-01"}</script>',
            '<time datetime="2023-03-03">then</time>',
            dt.date(2025, 1, 22),
            id="published-time-first-and-kept-in-its-own-zone",
        ),
        pytest.param(
            '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [{"@type": "WebSite"},'
            ' {"@type": "BlogPosting", "datePublished": "2025-01-22T09:30:00Z"}]}</script>',
            '<aside><time datetime="2024-12-01">a sidebar post</time></aside>',
            dt.date(2025, 1, 22),
            id="json-ld-graph-before-time-elements",
        ),
        pytest.param(
            '<script type="application/ld+json">not json {</script>',
            '<span itemprop="datePublished" content="2025-01-22">22 Jan</span>',
            dt.date(2025, 1, 22),
            id="microdata-after-broken-json-ld",
        ),
        pytest.param(
            "",
            '<aside><time datetime="2024-12-01">sidebar</time></aside><article><time datetime="2025-01-22">22 Jan</time></article>',
            dt.date(2025, 1, 22),
            id="time-in-the-article-before-the-sidebar",
        ),
        pytest.param("", '<time datetime="2025-02-30">no such day</time><time datetime="Jan 22">words</time>', None, id="invalid"),
        pytest.param("", "<p>undated</p>", None, id="none"),
    ],
)
def test_the_date_comes_from_the_pages_metadata(head: str, body: str, date: dt.date | None) -> None:
    assert published(lxml.html.document_fromstring(f"<html><head>{head}</head><body>{body}</body></html>")) == date


def test_the_charset_comes_from_the_header_then_the_page_then_utf8() -> None:
    latin = '<meta charset="iso-8859-1"><title>Caf\xe9 night</title>'.encode("latin-1")
    html = b"<html><head>" + latin + b"</head><body>" + LONG_TEXT.encode() + b"</body></html>"
    assert read_page(page(raw=html, charset=None)).title == "Café night"
    assert read_page(page(raw=html.replace(b"iso-8859-1", b"no-such-codec"), charset="latin-1")).title == "Café night"
    assert read_page(page('<?xml version="1.0" encoding="utf-8"?><title>Caf\u00e9 night</title>')).title == "Café night"


def test_a_page_without_enough_text_has_no_article() -> None:
    with pytest.raises(ContentError, match=f"{BASE}: no article found: the page's main text is 11 characters long"):
        read_page(page("<title>Stub</title>", "<p>Coming soon</p>"))
    with pytest.raises(ContentError, match=r"is not an HTML page that can be read \(Document is empty\)"):
        read_page(page(raw=b""))
    for unreadable in (b"<html><frameset><frame src='/menu'></frameset></html>", bytes(range(256)) * 50):
        with pytest.raises(ContentError, match="no article found: the page cannot be read"):
            read_page(page(raw=unreadable))


def test_headings_start_at_h2_and_never_skip_a_level() -> None:
    body = markdown("<h3>Agenda</h3><p>a</p><h5>Deep</h5><p>b</p><h6>Deeper</h6><h3>Next</h3><h2>Top</h2>")
    assert [line for line in body.splitlines() if line.startswith("#")] == ["## Agenda", "### Deep", "#### Deeper", "### Next", "## Top"]


def test_the_first_heading_is_left_out_when_it_repeats_the_title() -> None:
    root = lxml.html.fragment_fromstring("<div><h1>Big  Night</h1><p>text</p><h2>Big night</h2></div>")
    assert article_markdown(root, BASE, drop_heading="big night") == "text\n\n## Big night"


def test_lists_quotes_code_and_tables_keep_their_structure() -> None:
    body = markdown(
        '<ol start="3"><li>Three</li><li><p>Four</p><ul><li>four a</li></ul></li></ol>'
        "<blockquote><p>Quoted</p><p>- not a list</p></blockquote>"
        "<pre>def f():\n    return `x` *|EMAIL|*</pre>"
        "<table><tr><th>Who</th><th>Role</th></tr><tr><td>Ada | L</td><td>CTO<br>Modu</td></tr></table>"
        "<p>Line one<br>line two<br><br></p>"
    )
    assert "3. Three\n4. Four\n\n   - four a" in body
    assert "> Quoted\n>\n> \\- not a list" in body
    # A merge tag in code is broken with a zero-width space: code from a page is shown, never personalised.
    assert "```\ndef f():\n    return `x` *\u200b|EMAIL|*\n```" in body
    assert "| Who | Role |\n| --- | --- |\n| Ada \\| L | CTO Modu |" in body
    assert body.endswith("Line one\\\nline two")
    html = to_html(body)
    assert '<ol start="3">' in html and "<blockquote>" in html and "<table>" in html and "<br>" in html


def test_code_from_a_page_stays_inside_its_span_and_its_fence() -> None:
    body = markdown(
        "<p>A span <code>one\n&lt;script&gt;alert(1)&lt;/script&gt;</code> and <br><br> breaks<br></p>"
        "<pre>```\n&lt;script&gt;alert(2)&lt;/script&gt;\n```</pre>"
    )
    # A line break in a code span would let the next line start an HTML block; backticks in the code would close the fence.
    assert body == "A span `one <script>alert(1)</script>` and \\\n breaks\n\n````\n```\n<script>alert(2)</script>\n```\n````"
    assert [token.type for token in walk(parse(body)) if token.type.startswith("html")] == []
    assert [token.type for token in walk(parse(body)) if token.type in ("code_inline", "fence")] == ["code_inline", "fence"]


@pytest.mark.parametrize(
    "html",
    [
        pytest.param("<p><code>``</code><a><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></a></p>", id="side-by-side-spans"),
        pytest.param(
            "<table><tr><th>a</th><th>b</th></tr><tr><td><code>x|&lt;script&gt;alert(1)&lt;/script&gt;</code></td><td>c</td></tr></table>",
            id="pipe-in-a-cell",
        ),
        pytest.param("<p><em><pre>one\n&lt;script&gt;alert(1)&lt;/script&gt;</pre></em></p>", id="pre-inside-a-line"),
        pytest.param(
            "<p><a href='https://x.example/'><div>```</div><pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre></a></p>", id="blocks-in-a-link"
        ),
    ],
)
def test_code_from_a_page_stays_code_wherever_it_sits(html: str) -> None:
    body = markdown(html)
    # Spans side by side would make one run of backticks, a '|' ends a table cell even inside a span, and a fence
    # opens only at the start of a line: any of these would let the page's <script> out as raw HTML.
    assert [token.type for token in walk(parse(body)) if token.type.startswith("html")] == []
    assert "<script>alert(1)</script>" in lxml.html.fragment_fromstring(to_html(body), create_parent="div").text_content()


def test_a_merge_tag_in_code_is_broken_even_when_two_share_an_asterisk() -> None:
    body = markdown("<pre>*|FIRST_NAME|*|EMAIL|*</pre><p><code>*|EMAIL|*|EMAIL|*</code></p>")
    assert MERGE_TAG.search(body) is None
    assert body.replace("\u200b", "") == "```\n*|FIRST_NAME|*|EMAIL|*\n```\n\n`*|EMAIL|*|EMAIL|*`"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>1. not a list, # not a heading</p>", "1\\. not a list, \\# not a heading"),
        ("<p># hash, - dash, + plus, &gt; quote</p>", "\\# hash, \\- dash, \\+ plus, \\> quote"),
        ("<p>snake_case and _emphasis_ and 5 * 3 = 15</p>", "snake\\_case and \\_emphasis\\_ and 5 \\* 3 \\= 15"),
        ("<p>&lt;b&gt;bold&lt;/b&gt; [x](y) {width=1} `tick` ~~s~~ &amp;copy; |</p>",
         "\\<b\\>bold\\</b\\> \\[x\\](y) \\{width\\=1\\} \\`tick\\` \\~\\~s\\~\\~ \\&copy; \\|"),
        ("<p>AT&amp;T and Domestic &amp; General</p>", "AT&T and Domestic & General"),
    ],
)  # fmt: skip
def test_text_is_escaped_so_it_renders_as_typed(html: str, expected: str) -> None:
    body = markdown(html)
    assert body == expected
    rendered = lxml.html.fragment_fromstring(to_html(body), create_parent="div")
    assert rendered.text_content().strip() == lxml.html.fragment_fromstring(html).text_content()


def test_links_keep_https_and_mailto_and_images_need_https_and_alt() -> None:
    body = markdown(
        '<p><a href="/relative">relative</a> <a href="http://insecure.example/">insecure</a> <a href="javascript:x()">js</a>'
        ' <a href="mailto:events@modu.example">mail</a> <a href="https://x.example/a b(c)*|EMAIL|*">odd</a>'
        ' <a href="https://x.example/"> </a></p>'
        '<p><img src="https://x.example/a.jpg" alt="The [panel]" width="1200" height="675"> <img src="http://x.example/b.jpg" alt="b">'
        ' <img src="https://x.example/c.jpg"> <img src="/d.jpg" alt="relative" width="wide"></p>'
    )
    assert body.splitlines()[0] == (
        "[relative](https://blog.modu.example/relative) insecure js [mail](mailto:events@modu.example)"
        " [odd](https://x.example/a%20b%28c%29%2A%7CEMAIL%7C%2A)"
    )
    assert body.splitlines()[2] == (
        "![The \\[panel\\]](https://x.example/a.jpg){width=600 height=338} ![relative](https://blog.modu.example/d.jpg)"
    )
