"""A recap's text from a page, or from the newest item of a feed: front matter from the page's metadata, its article as the body.

The front matter is the title, the page's description as the preheader, and
``event: {name, date}``: the event's name
is the title unless the caller knows the event (``--event SLUG``), and its
date is the page's publication date, which for a recap written the day
after is close; the draft is there to be checked before anyone gets it.
The text is validated as any recap is before it is returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from publisher.content.drafting import compose
from publisher.content.from_web.feeds import FEED_ACCEPT, FEED_TYPES, newest_item
from publisher.content.from_web.page import MAX_TITLE, Page, read_page
from publisher.content.recap import MAX_RECAP_BYTES, Recap, parse_recap
from publisher.core.errors import ContentError
from publisher.core.fetching import FetchPolicy, fetch

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9"


@dataclass(frozen=True)
class WebRecap:
    """A recap made from a page: its text and what it was made from."""

    url: str
    text: str
    recap: Recap

    @property
    def title(self) -> str:
        return self.recap.meta.title

    @property
    def date(self) -> dt.date | None:
        event = self.recap.meta.event
        return event.date if event else None


def recap_from_url(url: str, policy: FetchPolicy, event_name: str | None = None) -> WebRecap:
    """Fetch the page at ``url`` and make a recap of its article; FetchError or ContentError say why not."""
    page = read_page(fetch(url, policy, PAGE_TYPES, PAGE_ACCEPT))
    return recap_of(page, event_name)


def recap_from_feed(url: str, policy: FetchPolicy, event_name: str | None = None) -> WebRecap:
    """Fetch the feed at ``url``, then its newest item's page, under the same rules, and make a recap of it."""
    item = newest_item(fetch(url, policy, FEED_TYPES, FEED_ACCEPT))
    page = read_page(fetch(item.link, policy, PAGE_TYPES, PAGE_ACCEPT))
    return recap_of(page, event_name, fallback_title=item.title, fallback_date=item.published)


def recap_of(
    page: Page, event_name: str | None = None, fallback_title: str | None = None, fallback_date: dt.date | None = None
) -> WebRecap:
    """The recap text of a page read already."""
    title = (page.title or fallback_title or "")[:MAX_TITLE].rstrip()
    if not title:
        raise ContentError(page.url, "no title found: the page has no og:title, <title> or <h1>")
    date = page.published or fallback_date
    event: dict[str, object] = {"name": event_name or title}
    if date is not None:
        event["date"] = date
    # The source, as a YAML comment: it tells whoever edits the recap where it came from, and no recap key stands for it.
    text = compose({"title": title, "preheader": page.summary, "event": event}, page.body).replace("---\n", f"---\n# from {page.url}\n", 1)
    if len(text.encode("utf-8")) > MAX_RECAP_BYTES:
        raise ContentError(page.url, f"the article is longer than {MAX_RECAP_BYTES:,} bytes (1 MiB), the most a recap may be")
    return WebRecap(url=page.url, text=text, recap=parse_recap(text, page.url))
