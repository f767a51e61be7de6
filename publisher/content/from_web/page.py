"""An HTML page read as a recap's makings: its title, its date and its article as Markdown.

The title is the page's ``og:title``, else its ``<title>`` (without a
trailing " | Site name" when the page names its site), else its first
``<h1>``; the summary (the preheader) its ``og:description`` or
``description``. The date is the first of: ``article:published_time``, a JSON-LD
``datePublished`` (also inside ``@graph``), a microdata ``datePublished``,
a ``<time datetime>`` inside the ``<article>``, any ``<time datetime>``. The
machine-readable dates come first because a page's ``<time>`` elements may
as well date its sidebar's posts. The article is what readability-lxml
finds (docs/events.md says why it and not trafilatura).
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lxml.etree  # type: ignore[import-untyped]  # lxml ships no type hints
import lxml.html  # type: ignore[import-untyped]
from readability import Document
from readability.readability import Unparseable

from publisher.content.from_web.html_to_markdown import article_markdown, clean_line, text_of
from publisher.core.errors import ContentError
from publisher.core.fetching import Fetched

# readability logs a traceback for every page it cannot read, on stderr when nothing else is configured;
# that page is reported as a ContentError instead, once.
logging.getLogger("readability").setLevel(logging.CRITICAL)

#: Fewer characters of text than this is a menu, a stub or an error page, not an article.
MIN_ARTICLE_CHARACTERS = 200
#: The console's title field holds 500 characters; a longer title is cut there.
MAX_TITLE = 500
MAX_SUMMARY = 500
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
_SEPARATORS = ("|", "-", "–", "—", "·", ":", "•")


@dataclass(frozen=True)
class Page:
    url: str
    title: str | None
    published: dt.date | None
    summary: str | None
    #: The article, as recap Markdown.
    body: str


def read_page(fetched: Fetched) -> Page:
    """Read a fetched HTML page; ContentError when it holds no article."""
    html = _XML_DECLARATION.sub("", decode(fetched), count=1)
    try:
        doc = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ContentError(fetched.url, f"is not an HTML page that can be read ({exc})") from None
    title = page_title(doc)
    body = _article(html, fetched.url, title)
    summary = clean_line(_meta(doc, "og:description") or _meta(doc, "description") or "")[:MAX_SUMMARY].rstrip() or None
    return Page(url=fetched.url, title=title, published=published(doc), summary=summary, body=body)


def decode(fetched: Fetched) -> str:
    """The page's text: in the charset its header names, else its ``<meta charset>``, else UTF-8."""
    for name in (fetched.charset, _meta_charset(fetched.body), "utf-8"):
        if name and _known_codec(name):
            return fetched.body.decode(name, errors="replace").removeprefix("\ufeff")
    return fetched.body.decode("utf-8", errors="replace")


def page_title(doc: lxml.html.HtmlElement) -> str | None:
    site = clean_line(_meta(doc, "og:site_name") or "")
    candidates = (_meta(doc, "og:title"), _without_site(clean_line(doc.findtext(".//title") or ""), site), _first_h1(doc))
    for candidate in candidates:
        title = clean_line(candidate or "")
        if title:
            return title[:MAX_TITLE].rstrip()
    return None


def published(doc: lxml.html.HtmlElement) -> dt.date | None:
    """The page's publication date, from the first source (see the module's doc) that gives a valid one."""
    for value in _date_candidates(doc):
        found = parse_date(value)
        if found is not None:
            return found
    return None


def parse_date(value: str) -> dt.date | None:
    """The calendar date an ISO 8601 date or time starts with, as written (not moved to UTC)."""
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _date_candidates(doc: lxml.html.HtmlElement) -> Iterator[str]:
    yield from doc.xpath("//meta[@property='article:published_time' or @name='article:published_time']/@content")
    for script in doc.xpath("//script[@type='application/ld+json']"):
        yield from _json_ld_dates(script.text or "")
    for element in doc.xpath("//*[@itemprop='datePublished']"):
        yield element.get("content") or element.get("datetime") or ""
    yield from doc.xpath("//article//time/@datetime")
    yield from doc.xpath("//time/@datetime")


def _json_ld_dates(text: str) -> Iterator[str]:
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return
    pending = [data]
    while pending:
        item = pending.pop(0)
        if isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str):
                yield value
            pending.extend(value for value in item.values() if isinstance(value, dict | list))
        elif isinstance(item, list):
            pending.extend(item)


def _meta(doc: lxml.html.HtmlElement, name: str) -> str | None:
    for value in doc.xpath("//meta[@property=$name or @name=$name]/@content", name=name):
        if clean_line(value):
            return str(value)
    return None


def _without_site(title: str, site: str) -> str:
    if site and title.casefold().endswith(site.casefold()):
        head = title[: len(title) - len(site)].rstrip()
        if head.endswith(_SEPARATORS) and head[:-1].strip():
            return head[:-1].strip()
    return title


def _first_h1(doc: lxml.html.HtmlElement) -> str | None:
    headings = doc.xpath("//h1")
    return str(headings[0].text_content()) if headings else None


def _article(html: str, url: str, title: str | None) -> str:
    try:
        # No url: readability would resolve the links its cleaner emptied (javascript:) to the page itself.
        summary = Document(html).summary(html_partial=True)
        # lxml asserts when the summary has no body to take a fragment from (a frameset page).
        root = lxml.html.fragment_fromstring(summary, create_parent="div")
        body = article_markdown(root, url, drop_heading=title)
    except (Unparseable, lxml.etree.ParserError, ValueError, AssertionError, RecursionError) as exc:
        raise ContentError(url, f"no article found: the page cannot be read ({type(exc).__name__})") from None
    length = len(text_of(body))
    if length < MIN_ARTICLE_CHARACTERS:
        raise ContentError(url, f"no article found: the page's main text is {length} characters long, fewer than {MIN_ARTICLE_CHARACTERS}")
    return body


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    return found.group(1).decode("ascii") if found else None


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
