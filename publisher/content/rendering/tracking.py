"""Stage 1 of a tracked issue: its links become click links, and an open pixel ends its HTML.

Runs once per campaign on the stage-1 output (after CSS inlining), so the
per-recipient cost is one signed token (``LinkSigner.track_token``) filled
into every tracked span. Each tracked span keeps the original link beside the
tracked one (``personalize.Tracked``): the view page, the archive and a
preview render the issue without a token, so they show the original links
and no pixel, and record nothing.

What is rewritten: every ``<a href>`` of the HTML part whose scheme is http
or https, and in the plain-text part each of those same URLs wherever it is
written. A URL the text part alone has (an image's address the HTML shows as
``<img src>``, say) stays as it is: the campaign's tracked links are exactly
the HTML part's, so a scanner that follows every link of the HTML part
clicks every tracked link and makes a burst. What never is: a link with a
merge tag in it (its URL differs per recipient, so it cannot be one of the
campaign's stored URLs), and our own subscriber links (unsubscribe,
preferences, view, confirm), which are personal fields, not URLs, at this
stage. A URL that already points at those routes of our own site is left as
it is too.

A click link is ``{public_url}/t/c/{n}.{token}``: ``n`` numbers the URL in
``Campaign.tracked_links`` (the same URL has one number in both parts), the
token is the recipient's. The pixel is ``{public_url}/t/o/{token}.gif``.
"""

from __future__ import annotations

import html as html_entities
import re
from dataclasses import dataclass, field

from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.personalize import (
    TRACK_END,
    TRACK_OR,
    TRACK_START,
    TRACK_TOKEN,
    TRACKED,
    escape_attribute,
    placeholder,
)

#: The longest URL kept as a tracked link (``Engagement.url`` holds 2,000 characters); a longer one stays as it is.
MAX_TRACKED_URL = 2000
#: Paths of our own site that are never tracked: the subscriber links, and the tracking routes themselves.
OWN_ROUTES = ("unsubscribe", "preferences", "view", "confirm", "t")
#: An ``<a>`` start tag's href, as lxml writes it after premailer: double quotes, '"' escaped as &quot;.
_ANCHOR_HREF = re.compile(r'(<a\s[^>]*?(?<=\s)href=")([^"]*)(")', re.IGNORECASE)
#: A URL in the plain text: it starts a line, a word, a ``(url)`` or a ``"url"``; a URL inside another URL is not one.
#: It may hold quotes (an href can), so where it ends is settled by which anchor URL it is (``_text_url``).
_TEXT_URL = re.compile(r"(?<![^\s(<\"])https?://[^\s<>]+", re.IGNORECASE)
_HTTP = re.compile(r"https?://", re.IGNORECASE)
#: What may end a sentence, a quotation or a ``(url)`` rather than a URL written in plain text.
_TRAILING = ".,;:!?'\")"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass
class _Links:
    """The campaign's tracked URLs in the order they got their numbers."""

    urls: list[str] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def number(self, url: str) -> int:
        found = self.numbers.get(url)
        if found is None:
            found = self.numbers[url] = len(self.urls)
            self.urls.append(url)
        return found


def track_issue(issue: RenderedIssue, public_url: str) -> tuple[RenderedIssue, list[str]]:
    """Rewrite a stage-1 issue's links into tracked spans and add the open pixel; return it and the tracked URLs by number."""
    public_url = public_url.rstrip("/")
    own = tuple(f"{public_url}/{route}/".lower() for route in OWN_ROUTES)
    links = _Links()
    marks = _Marks(issue.nonce)

    def html_link(match: re.Match[str]) -> str:
        written = match.group(2)
        url = html_entities.unescape(written)
        if not _trackable(url, issue.nonce, own):
            return match.group(0)
        head = f"{escape_attribute(public_url)}/t/c/{links.number(url)}."
        return match.group(1) + marks.span(head, "", written) + match.group(3)

    def text_link(match: re.Match[str]) -> str:
        url = _text_url(match.group(0), links.numbers)
        if url is None:
            return match.group(0)
        rest = match.group(0)[len(url) :]
        return marks.span(f"{public_url}/t/c/{links.numbers[url]}.", "", url) + rest

    html = _ANCHOR_HREF.sub(html_link, issue.html)
    text = _TEXT_URL.sub(text_link, issue.text)
    pixel = marks.span(f'<img src="{escape_attribute(public_url)}/t/o/', f'.gif" {PIXEL_ATTRIBUTES}>', "")
    html = _with_pixel(html, pixel)
    tracked = RenderedIssue(html=html, text=text, nonce=issue.nonce)
    tracked.fields  # noqa: B018 (compiles now: a broken span fails at publish, not in the worker)
    return tracked, links.urls


#: The pixel's attributes: invisible in every client, never scaled, with an empty alt so screen readers skip it.
PIXEL_ATTRIBUTES = 'width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0"'


@dataclass(frozen=True)
class _Marks:
    nonce: str

    def span(self, head: str, tail: str, plain: str) -> str:
        """A tracked span: ``head + token + tail`` for a recipient with a token, ``plain`` for everyone else."""

        def mark(name: str) -> str:
            return placeholder(self.nonce, name, TRACKED)

        return f"{mark(TRACK_START)}{head}{mark(TRACK_TOKEN)}{tail}{mark(TRACK_OR)}{plain}{mark(TRACK_END)}"


def _trackable(url: str, nonce: str, own: tuple[str, ...]) -> bool:
    return (
        _HTTP.match(url) is not None
        and f"NL{nonce}" not in url
        and len(url) <= MAX_TRACKED_URL
        and not url.lower().startswith(own)
        and url.isprintable()
    )


def _text_url(written: str, anchors: dict[str, int]) -> str | None:
    """The anchor URL ``written`` is, less the punctuation, quote or parenthesis that ends its sentence; None if it is none.

    The longest reading wins: ``https://x/?q="a"`` is that URL when an anchor
    has it, and ``https://x/?q=`` quoted when that is the anchor.
    """
    url = written
    while url:
        if url in anchors:
            return url
        if url[-1] not in _TRAILING:
            return None
        url = url[:-1]
    return None


def _with_pixel(html: str, pixel: str) -> str:
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]
