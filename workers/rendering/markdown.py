"""Recap Markdown to sanitised HTML for the layout.

CommonMark plus GFM tables and strikethrough (markdown-it-py). Raw HTML in the
recap goes through an nh3 allow-list: disallowed tags and attributes are
removed (not escaped into visible text), script and style contents are dropped
and only http, https and mailto URLs survive.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

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


class _Parser(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        # Let every link through the parser so nh3 decides: a javascript: link
        # then keeps its text and loses its URL instead of showing as raw Markdown.
        return True


def parser() -> MarkdownIt:
    return _Parser("commonmark", {"html": True}).enable(["table", "strikethrough"])


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
    """Render the recap body to sanitised HTML."""
    md = parser()
    tokens = md.parse(body)
    shift_headings(tokens)
    for token in _walk(tokens):
        if token.type == "image" and not token.attrGet("width"):
            token.attrSet("width", str(DEFAULT_IMAGE_WIDTH))
    html = md.renderer.render(tokens, md.options, {})
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
    )


def _walk(tokens: list[Token]) -> list[Token]:
    flat: list[Token] = []
    for token in tokens:
        flat.append(token)
        if token.children:
            flat.extend(_walk(token.children))
    return flat
