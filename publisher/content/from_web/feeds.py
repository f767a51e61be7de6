"""The newest item of an RSS or Atom feed: where its page is, and its title and date in case the page lacks them.

feedparser reads the feed from the bytes already fetched, never from a URL
(given a string that looks like one, it would fetch it itself, past every
check of :mod:`publisher.core.fetching`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import feedparser

from publisher.content.from_web.html_to_markdown import clean_line
from publisher.core.errors import ContentError
from publisher.core.fetching import Fetched

#: What a feed is served as, in the wild.
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml"})
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8"


@dataclass(frozen=True)
class FeedItem:
    link: str
    title: str | None
    published: dt.date | None


def newest_item(fetched: Fetched) -> FeedItem:
    """The feed's newest item (by its published or updated date; the first one when none has a date)."""
    parsed: Any = feedparser.parse(fetched.body, response_headers={"content-location": fetched.url})
    entries = [entry for entry in parsed.entries if _link(entry)]
    if not entries:
        problem = "is not an RSS or Atom feed" if parsed.get("bozo") and not parsed.entries else "has no item with a link"
        raise ContentError(fetched.url, problem)
    dated = [(when, entry) for entry in entries if (when := _when(entry)) is not None]
    when, entry = max(dated, key=lambda pair: tuple(pair[0])[:6]) if dated else (None, entries[0])
    return FeedItem(
        link=urljoin(fetched.url, _link(entry)),
        title=clean_line(str(entry.get("title") or "")) or None,
        published=dt.date(when.tm_year, when.tm_mon, when.tm_mday) if when is not None else None,
    )


def _link(entry: Any) -> str:
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return link.strip()
    for candidate in entry.get("links") or []:
        if candidate.get("rel", "alternate") == "alternate" and isinstance(candidate.get("href"), str):
            return str(candidate["href"]).strip()
    return ""


def _when(entry: Any) -> time.struct_time | None:
    value = entry.get("published_parsed") or entry.get("updated_parsed")
    return value if isinstance(value, time.struct_time) else None
