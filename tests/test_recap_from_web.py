"""``newsletter recap from-url|from-feed``: the event's blog post, served by a real loopback server, becomes a recap.

The post is the seed recap laid out as a real blog page (tests/fixtures/web/):
what the page wraps around the article (cookie banner, navigation, share
buttons, sidebar, related posts, footer) must stay out of the recap, and the
article must come through. Every fetch goes through the SSRF guard of
publisher.core.fetching; loopback is allowed only where a test sets
NEWSLETTER_FETCH_ALLOW_LOOPBACK, and the private addresses tests name
(10.0.0.1) are refused before any connection, so no test reaches past this
machine.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from publisher.content.from_web.recaps import recap_from_feed, recap_from_url
from publisher.content.lint import lint_recap
from publisher.content.recap import load_recap, parse_recap
from publisher.content.rendering.markdown import MERGE_TAG, parse, to_html
from publisher.core.fetching import MAX_REDIRECTS, AddressRefusedError, FetchError, FetchPolicy, fetch
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.events.catalogue import EventFields, create_event
from tests.support.blog import HOSTILE, HUGE, OLDER_POST, POST, Blog, serving_blog
from tests.support.cli import CliResult, run_cli
from tests.support.environment import TEST_SECRET
from tests.support.paths import PROJECT

#: Sentences of the article that must come through.
ARTICLE = (
    "Last Wednesday, Modu hosted an engaging event in Holborn",
    "## Not a War, But a Marriage",
    "- **Delivery is the core metric for technology.**",
    "in the US, the first product manager is typically hired as 'employee number 8,'",
    "## Amazon’s Approach to Product Management",
    "The evening ended with networking over food and drinks",
    '["The Geek Way"](https://www.modu.example/reading/the-geek-way)',
)
#: What the page wraps around the article, none of which is the recap's.
CHROME = (
    "Accept all cookies",
    "Manage cookie preferences",
    "Our services",
    "Case studies",
    "Careers at Modu",
    "Search insights",
    "Share this article",
    "Share on LinkedIn",
    "Share on X",
    "Copy link",
    "6 min read",
    "Subscribe to Modu Insights",
    "Most read this month",
    "OKRs that actually work",
    "You might also like",
    "Roadmaps that survive contact with reality",
    "Read more",
    "#Events",
    "Registered in England and Wales",
    "Privacy policy",
    "All rights reserved",
    "gtag",
)
PAGE_TYPES = frozenset({"text/html"})
LOOPBACK = FetchPolicy(timeout=10, max_bytes=5_000_000, allow_loopback=True)
STRICT = FetchPolicy(timeout=10, max_bytes=5_000_000, allow_loopback=False)


@pytest.fixture
def blog() -> Iterator[Blog]:
    with serving_blog() as served:
        yield served


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``newsletter`` run that may fetch from loopback, with these NEWSLETTER_ settings on top."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    env.update(
        PYTHONPATH=str(PROJECT),
        PYTHONUNBUFFERED="1",
        NEWSLETTER_DATA_DIR=str(tmp_path / "var"),
        NEWSLETTER_SECRET_KEY=TEST_SECRET,
        NEWSLETTER_FETCH_ALLOW_LOOPBACK="true",
    )
    env.update({f"NEWSLETTER_{name.upper()}": value for name, value in settings.items()})
    return env


def written(result: CliResult, output: Path) -> str:
    assert result.returncode == 0, result.output
    assert result.last_line == str(output)
    return output.read_text(encoding="utf-8")


def test_from_url_writes_the_article_and_none_of_the_page_around_it(blog: Blog, tmp_path: Path) -> None:
    output = tmp_path / "recaps" / "product-vs-tech.md"
    env = cli_env(tmp_path)
    text = written(run_cli(env, "recap", "from-url", blog.url(POST), "-o", output), output)
    recap = parse_recap(text, str(output))
    assert recap.meta.title == "Insights From The Product vs Tech Event by Modu"
    assert recap.meta.event is not None
    assert recap.meta.event.name == recap.meta.title
    assert recap.meta.event.date == dt.date(2025, 1, 22)
    assert recap.meta.preheader == "Key takeaways from Modu's panel on how product and tech teams work together."
    for sentence in ARTICLE:
        assert sentence in recap.body
    found = [text for text in CHROME if text in recap.body]
    assert found == []
    assert text.startswith(f"---\n# from {blog.url(POST)}\n")
    lint = run_cli(env, "lint", output)
    assert lint.returncode == 0, lint.output
    assert "0 error(s)" in lint.last_line


@pytest.mark.parametrize("feed", ["/feed.rss", "/feed.atom"])
def test_from_feed_makes_the_recap_of_the_newest_item(blog: Blog, tmp_path: Path, feed: str) -> None:
    output = tmp_path / "recap.md"
    recap = parse_recap(written(run_cli(cli_env(tmp_path), "recap", "from-feed", blog.url(feed), "-o", output), output))
    # The newest item is the second of the feed: the first is older, and its page is served too.
    assert recap.meta.title == "Insights From The Product vs Tech Event by Modu"
    assert recap.meta.event is not None and recap.meta.event.date == dt.date(2025, 1, 22)
    assert ARTICLE[0] in recap.body
    assert blog.requested == [feed, POST]
    assert OLDER_POST not in blog.requested


def test_a_feed_item_is_fetched_under_the_same_rules_as_the_feed(blog: Blog) -> None:
    with pytest.raises(AddressRefusedError, match=r"https://10\.0\.0\.1/insights/secret is refused: 10\.0\.0\.1 is a private address"):
        recap_from_feed(blog.url("/feed-to-private.rss"), LOOPBACK)
    assert blog.requested == ["/feed-to-private.rss"]
    with pytest.raises(FetchError, match="is text/html, not one of application/atom"):
        recap_from_feed(blog.url(POST), LOOPBACK)


@pytest.mark.parametrize(
    ("path", "settings", "message"),
    [
        pytest.param(POST, {"fetch_allow_loopback": "false"}, "is not an https:// URL: only https pages are fetched", id="http"),
        pytest.param("https://10.0.0.1/insights", {}, "10.0.0.1 is a private address: only public addresses are fetched", id="private"),
        pytest.param("https://127.0.0.1:9/post", {"fetch_allow_loopback": "false"}, "127.0.0.1 is a loopback address", id="loopback"),
        pytest.param("/moved-to-private", {}, "(redirected to https://10.0.0.1/insights/secret) is refused", id="redirect"),
        pytest.param("/huge", {"fetch_max_bytes": "20000"}, "is larger than the 20,000 bytes fetched", id="too-large"),
        pytest.param(
            "/stall", {"fetch_timeout": "1"}, "did not answer within 1 s (NEWSLETTER_FETCH_TIMEOUT)", id="slow", marks=pytest.mark.timing
        ),
        pytest.param("/notes.txt", {}, "is text/plain, not one of application/xhtml+xml, text/html", id="not-html"),
        pytest.param("/menu", {}, "no article found: the page's main text is", id="no-article"),
        pytest.param("/gone", {}, "answered 404 Not Found", id="http-error"),
    ],
)
def test_each_refusal_is_one_line_with_exit_2_and_leaves_no_file(
    blog: Blog, tmp_path: Path, path: str, settings: dict[str, str], message: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    url = path if path.startswith("https://") else blog.url(path)
    result = run_cli(cli_env(tmp_path, **settings), "recap", "from-url", url, "-o", folder / "recap.md")
    assert result.returncode == 2, result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert result.output.startswith("error: ") and message in result.output, result.output
    assert list(folder.iterdir()) == []


def test_an_existing_file_is_kept_unless_forced(blog: Blog, tmp_path: Path) -> None:
    output = tmp_path / "recap.md"
    output.write_text("edited by hand\n", encoding="utf-8")
    env = cli_env(tmp_path)
    kept = run_cli(env, "recap", "from-url", blog.url(POST), "-o", output)
    assert kept.returncode == 2 and f"error: {output} exists: give --force to overwrite it" in kept.output
    assert output.read_text(encoding="utf-8") == "edited by hand\n"
    assert blog.requested == []
    forced = written(run_cli(env, "recap", "from-url", blog.url(POST), "-o", output, "--force"), output)
    assert ARTICLE[0] in forced
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".recap.md")) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_event_names_the_recaps_event_from_the_events_table(blog: Blog, tmp_path: Path, db: Database, database_url: str) -> None:
    starts = dt.datetime(2025, 1, 15, 18, 30, tzinfo=dt.UTC)
    name = "From Flow to Growth: How the Product vs Tech War Was Fought and Won"
    fields = EventFields(name=name, starts_at=starts, ends_at=starts + dt.timedelta(hours=3), timezone="Europe/London")
    create_event(db, "product-vs-tech", "manual", fields)
    env = cli_env(tmp_path, database_url=database_url)
    output = tmp_path / "recap.md"
    recap = parse_recap(written(run_cli(env, "recap", "from-url", blog.url(POST), "-o", output, "--event", "product-vs-tech"), output))
    assert recap.meta.event is not None and recap.meta.event.name == name
    assert recap.meta.title == "Insights From The Product vs Tech Event by Modu"
    unknown = run_cli(env, "recap", "from-url", blog.url(POST), "-o", tmp_path / "other.md", "--event", "no-such-event")
    assert unknown.returncode == 2 and "no event 'no-such-event' (events: product-vs-tech)" in unknown.output
    assert not (tmp_path / "other.md").exists()


def test_hostile_page_content_comes_out_inert(blog: Blog, tmp_path: Path) -> None:
    made = recap_from_url(blog.url(HOSTILE), LOOPBACK)
    # A line break, a carriage return, an escape, a line separator and a right-to-left override: one plain line now
    # (the NUL of the preheader is U+FFFD for any HTML parser).
    assert made.title == "Big night Bcc: victim@example.com [31m red line"
    assert made.recap.meta.preheader == "A night to\ufffd remember"
    # The Markdown carries no HTML at all, and no merge tag: the page's *|EMAIL|* is text.
    assert [token.type for token in _walk(parse(made.recap.body)) if token.type.startswith("html")] == []
    assert MERGE_TAG.search(made.recap.body) is None
    html = lxml.html.fragment_fromstring(to_html(made.recap.body), create_parent="div")
    assert html.xpath("//script | //style | //iframe | //object | //svg | //form | //input | //button | //img") == []
    assert [name for element in html.iter() for name in element.attrib if name.startswith("on") or name == "style"] == []
    assert [link.get("href") for link in html.iter("a")] == ["https://www.modu.example/ok"]
    text = html.text_content()
    assert "<script>alert('text')</script>" in text and "*|EMAIL|*" in text and "{{ 7*7 }}" in text
    assert "a javascript link" in text and "a data link" in text
    assert "written by a script" not in text and "type your card number" not in text and "alert('svg script')" not in text
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET)
    assert lint_recap(settings, made.recap).errors == []


def test_the_guard_checks_every_address_a_name_resolves_to(blog: Blog, monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(blog.base_url.rsplit(":", 1)[1])
    answers = {"both.blog.test": ["127.0.0.1", "10.0.0.1"], "loopback.blog.test": ["127.0.0.1"]}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    # One of two addresses is private: refused, though the other would answer.
    with pytest.raises(AddressRefusedError, match=r"both\.blog\.test resolves to 10\.0\.0\.1, a private address"):
        fetch(f"http://both.blog.test:{port}{POST}", LOOPBACK, PAGE_TYPES, "text/html")
    assert blog.requested == []
    # A name is looked up once per connection, and the socket goes to the address that was checked.
    page = fetch(f"http://loopback.blog.test:{port}{POST}", LOOPBACK, PAGE_TYPES, "text/html")
    assert b"Last Wednesday, Modu hosted" in page.body and blog.requested == [POST]
    assert lookups == ["both.blog.test", "loopback.blog.test"]
    with pytest.raises(AddressRefusedError, match=r"loopback\.blog\.test resolves to 127\.0\.0\.1, a loopback address"):
        fetch(f"https://loopback.blog.test:{port}{POST}", STRICT, PAGE_TYPES, "text/html")


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "172.16.5.4", "192.168.1.1", "fc00::1", "fd12:3456::1", "169.254.169.254", "fe80::1", "0.0.0.0", "::",
     "224.0.0.251", "ff02::1", "100.64.0.1", "192.0.2.10", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1",
     "2002:a00:1::1", "240.0.0.1", "255.255.255.255"],
)  # fmt: skip
def test_private_link_local_and_other_non_public_addresses_stay_refused_with_loopback_allowed(address: str) -> None:
    url = f"https://[{address}]/post" if ":" in address else f"https://{address}/post"
    # Refused before any connection: none of these is ever reached.
    with pytest.raises(AddressRefusedError, match="only public addresses are fetched"):
        fetch(url, LOOPBACK, PAGE_TYPES, "text/html")


def test_loopback_needs_the_setting_and_plain_http_reaches_loopback_only(blog: Blog) -> None:
    for address in ("127.0.0.1", "127.8.9.10", "[::1]"):
        with pytest.raises(AddressRefusedError, match="a loopback address"):
            fetch(f"https://{address}:9/post", STRICT, PAGE_TYPES, "text/html")
    with pytest.raises(FetchError, match="is not an https:// URL"):
        fetch(blog.url(POST), STRICT, PAGE_TYPES, "text/html")
    assert fetch(blog.url(POST), LOOPBACK, PAGE_TYPES, "text/html").media_type == "text/html"
    # With the setting, plain http still reaches nothing but loopback.
    with pytest.raises(AddressRefusedError, match="plain http reaches loopback addresses only"):
        fetch("http://93.184.215.14/post", LOOPBACK, PAGE_TYPES, "text/html")


def test_redirects_are_followed_each_hop_checked_and_counted(blog: Blog) -> None:
    page = fetch(blog.url("/moved"), LOOPBACK, PAGE_TYPES, "text/html")
    assert page.url == blog.url(POST) and blog.requested == ["/moved", POST]
    with pytest.raises(AddressRefusedError, match=r"/moved-to-private \(redirected to https://10\.0\.0\.1/insights/secret\) is refused"):
        fetch(blog.url("/moved-to-private"), LOOPBACK, PAGE_TYPES, "text/html")
    with pytest.raises(FetchError, match=r"/moved-nowhere: its answer cannot be read \(Invalid IPv6 URL\)"):
        fetch(blog.url("/moved-nowhere"), LOOPBACK, PAGE_TYPES, "text/html")
    with pytest.raises(FetchError, match=f"redirects more than {MAX_REDIRECTS} times"):
        fetch(blog.url("/loop"), LOOPBACK, PAGE_TYPES, "text/html")
    assert blog.requested.count("/loop") == MAX_REDIRECTS + 1


def test_proxies_from_the_environment_are_not_used(blog: Blog, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would make the guard check the proxy's address, not the page's.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://10.0.0.1:3128")
    assert fetch(blog.url(POST), LOOPBACK, PAGE_TYPES, "text/html").url == blog.url(POST)


def test_a_body_over_the_limit_is_refused_whether_or_not_it_says_its_length(blog: Blog) -> None:
    small = FetchPolicy(timeout=10, max_bytes=20_000, allow_loopback=True)
    with pytest.raises(FetchError, match=f"is {HUGE:,} bytes, more than the 20,000 fetched"):
        fetch(blog.url("/huge-declared"), small, PAGE_TYPES, "text/html")
    with pytest.raises(FetchError, match="is larger than the 20,000 bytes fetched"):
        fetch(blog.url("/huge"), small, PAGE_TYPES, "text/html")
    assert len(fetch(blog.url("/huge"), LOOPBACK, PAGE_TYPES, "text/html").body) == HUGE


@pytest.mark.timing
@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"])
def test_a_server_that_trickles_bytes_for_ever_is_cut_off_at_the_deadline(blog: Blog, path: str) -> None:
    # Each byte comes well within any read timeout: only the deadline of the whole fetch ends it.
    with pytest.raises(FetchError, match=f"{path} did not answer within 1 s"):
        fetch(blog.url(path), FetchPolicy(timeout=1, max_bytes=5_000_000, allow_loopback=True), PAGE_TYPES, "text/html")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:secret@www.modu.example/post", "carries a user name or password"),
        ("https://www.modu.example/post\r\nHost: evil", "holds a space or a control character"),
        ("https://www.modu.example/" + "a" * 2000, "at most 2,000 are fetched"),
        ("ftp://www.modu.example/post", "is not an https:// URL"),
        ("javascript:alert(1)", "is not an https:// URL"),
        ("https:///post", "names no host"),
        ("https://www.modu.example:99999/post", "is not a URL"),
    ],
)
def test_urls_that_are_not_plain_https_addresses_are_refused_before_any_lookup(url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetch(url, STRICT, PAGE_TYPES, "text/html")


def test_the_written_recap_is_the_file_newsletter_reads(blog: Blog, tmp_path: Path) -> None:
    output = tmp_path / "recap.md"
    written(run_cli(cli_env(tmp_path), "recap", "from-url", blog.url("/moved"), "-o", output), output)
    recap = load_recap(output)
    # The recap names the page it came from after the redirect.
    assert output.read_text(encoding="utf-8").splitlines()[1] == f"# from {blog.url(POST)}"
    assert recap.meta.event is not None and recap.meta.event.date == dt.date(2025, 1, 22)


def _walk(tokens: list[Any]) -> Iterator[Any]:
    for token in tokens:
        yield token
        yield from _walk(token.children or [])
