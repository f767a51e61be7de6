"""Recap Markdown to sanitised HTML for the layout.

CommonMark plus GFM tables and strikethrough (markdown-it-py), and attribute
lists for image sizes: ``![alt](https://…/photo.jpg){width=300 height=200}``.
Images are never fetched to measure them; one without a size is rendered 600
wide (the container) and lint warns about it.

Raw HTML in the recap goes through an nh3 allow-list: disallowed tags and
attributes are removed (not escaped into visible text), script and style
contents are dropped and only http, https and mailto URLs survive.

Merge tags such as ``*|FIRST_NAME|*`` or ``*|COMPANY|*`` (a subscriber
attribute from the CSV) are the only personal data a recap can ask for. They
become stage-2 placeholders before Markdown is parsed, so they are never
parsed as Markdown and never evaluated as template code.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.attrs import attrs_plugin

from publisher.errors import RenderError
from workers.rendering.personalize import ATTRIBUTE_PREFIX, TEXT, URL_PART, placeholder

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
#: Width given to an image whose Markdown names no size: the container width.
DEFAULT_IMAGE_WIDTH = 600
MERGE_TAG = re.compile(r"\*\|([A-Z][A-Z0-9_]*)\|\*")
BUILTIN_TAGS = {"FIRST_NAME": "first_name", "LAST_NAME": "last_name", "FULL_NAME": "full_name", "EMAIL": "email"}
_ANY_TEXT_PLACEHOLDER = re.compile(f"(NL[0-9a-f]{{16}}){TEXT}([a-z][a-z0-9_]*X)")


class _Parser(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        # Let every link through the parser so nh3 decides: a javascript: link
        # then keeps its text and loses its URL instead of showing as raw Markdown.
        return True


def parser() -> MarkdownIt:
    return _Parser("commonmark", {"html": True}).enable(["table", "strikethrough"]).use(attrs_plugin)


def merge_field(tag: str) -> str:
    """The personal field a merge tag asks for: a built-in one or a subscriber attribute."""
    return BUILTIN_TAGS.get(tag, ATTRIBUTE_PREFIX + tag.lower())


def insert_placeholders(body: str, nonce: str) -> str:
    """Replace merge tags with (text) placeholders, before any parsing."""
    return MERGE_TAG.sub(lambda match: placeholder(nonce, merge_field(match.group(1))), body)


def in_context(value: str, kind: str) -> str:
    """Re-mark the text placeholders inside ``value`` for another context."""
    return _ANY_TEXT_PLACEHOLDER.sub(lambda match: f"{match.group(1)}{kind}{match.group(2)}", value)


def parse(body: str) -> list[Token]:
    return parser().parse(body)


def shift_headings(tokens: list[Token]) -> None:
    """Make the body's top heading level an h2: the layout owns the only h1."""
    levels = [int(token.tag[1]) for token in tokens if token.type == "heading_open"]
    if not levels:
        return
    offset = 2 - min(levels)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + offset)}"


def to_html(body: str) -> str:
    """Render the recap body (merge tags already replaced) to sanitised HTML."""
    md = parser()
    tokens = md.parse(body)
    shift_headings(tokens)
    for token in walk(tokens):
        if token.type == "image":
            _size_image(token)
            _refuse_placeholders("an image's alt text", "".join(child.content for child in token.children or []))
        if token.type in ("image", "link_open"):
            _refuse_placeholders("a link or image title", str(token.attrGet("title") or ""))
            _mark_urls(token)
    html = md.renderer.render(tokens, md.options, {})
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel=None)


def _size_image(token: Token) -> None:
    for name in ("width", "height"):
        value = token.attrGet(name)
        if value is not None and not str(value).isdigit():
            token.attrs.pop(name, None)
    if not token.attrGet("width"):
        token.attrSet("width", str(DEFAULT_IMAGE_WIDTH))


def _mark_urls(token: Token) -> None:
    for name in ("href", "src"):
        value = token.attrGet(name)
        if isinstance(value, str):
            token.attrSet(name, in_context(value, URL_PART))


def _refuse_placeholders(where: str, value: str) -> None:
    # Merge tags go in text and URLs only. In other attributes an HTML
    # serialiser picks the quote character from the value (lxml switches to
    # single quotes for a value containing '"'), so the inlined issue could
    # not be filled per recipient byte-for-byte as a full render would be.
    if _ANY_TEXT_PLACEHOLDER.search(value):
        raise RenderError(f"a merge tag in {where}: merge tags can only be used in text and in link URLs")


def images_without_size(body: str) -> list[str]:
    """The src of every image whose Markdown gives no width."""
    return [str(token.attrGet("src")) for token in walk(parse(body)) if token.type == "image" and not token.attrGet("width")]


def walk(tokens: list[Token]) -> list[Token]:
    flat: list[Token] = []
    for token in tokens:
        flat.append(token)
        if token.children:
            flat.extend(walk(token.children))
    return flat
