"""RSS 2.0 for the archive, built as an element tree so every value is escaped by the serializer.

Every value given here is plain text. ``<description>`` is the one element
whose content RSS 2.0 defines as HTML (entity-encoded in the XML): feed readers
XML-unescape it and then render it as HTML. So a description is HTML-escaped
first and XML-escaped by the serializer, and a subject such as ``<b>bold</b>``
shows as those characters, not as bold. Titles and categories are plain text
in RSS 2.0 and are only XML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

ATOM = "http://www.w3.org/2005/Atom"
register_namespace("atom", ATOM)


@dataclass(frozen=True)
class Channel:
    title: str
    link: str
    description: str
    #: The feed's own URL (atom:link rel="self", which feed readers use to follow a move).
    feed_url: str


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    description: str
    category: str
    published_at: dt.datetime


def rss(channel: Channel, items: Sequence[Item]) -> bytes:
    """Serialise the feed as UTF-8 XML, newest item first as given."""
    root = Element("rss", version="2.0")
    head = SubElement(root, "channel")
    _text(head, "title", channel.title)
    _text(head, "link", channel.link)
    _html(head, "description", channel.description)
    SubElement(head, f"{{{ATOM}}}link", href=channel.feed_url, rel="self", type="application/rss+xml")
    if items:
        _text(head, "lastBuildDate", format_datetime(items[0].published_at, usegmt=True))
    for item in items:
        entry = SubElement(head, "item")
        _text(entry, "title", item.title)
        _text(entry, "link", item.link)
        _html(entry, "description", item.description)
        _text(entry, "category", item.category)
        _text(entry, "pubDate", format_datetime(item.published_at, usegmt=True))
        SubElement(entry, "guid", isPermaLink="true").text = item.link
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _html(parent: Element, tag: str, value: str) -> None:
    """An element whose content readers render as HTML, holding ``value`` as text."""
    _text(parent, tag, html.escape(value, quote=False))


def _text(parent: Element, tag: str, value: str) -> None:
    # XML 1.0 cannot carry control characters at all, escaped or not.
    SubElement(parent, tag).text = "".join(char for char in value if char in "\t\n" or unicodedata.category(char) != "Cc")
