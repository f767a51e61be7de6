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

Where a placeholder ends up is read from the sanitised HTML, not guessed from
the Markdown: raw HTML can open an attribute that a later paragraph closes.
A placeholder in text stays text; one that starts an href or src becomes a
whole URL; one later in an href or src a URL part; one in any other attribute
is refused with its line, because no escaping makes a name safe in a style,
and an attribute's quote character is the serialiser's choice.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cache, partial

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.attrs import attrs_plugin

from publisher.content.rendering.personalize import ATTRIBUTE_PREFIX, TEXT, URL_PART, WHOLE_URL, placeholder
from publisher.core.errors import RenderError

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
#: A text placeholder marked with the body line it came from, while the
#: sanitised HTML is read (``L`` cannot occur in a field name).
_LINED = re.compile(f"(NL[0-9a-f]{{16}}){TEXT}([a-z][a-z0-9_]*)L([0-9]+)X")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: A start tag as html5ever (nh3) writes it: every attribute value in double
#: quotes with '"' escaped, and no raw '<' in text, so this reading is exact.
_START_TAG = re.compile(r'<([a-zA-Z][^\s/>]*)((?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*)\s*/?>')
_END_TAG = re.compile(r"</[a-zA-Z][^\s/>]*>")
_ATTRIBUTE = re.compile(r'([^\s"\'>/=]+)(?:="([^"]*)")?')
URL_ATTRIBUTES = ("href", "src")


class MergeTagPlacementError(RenderError):
    """A merge tag where no escaping keeps it in place; ``line`` counts from the body's first line."""

    def __init__(self, line: int, attribute: str, tag: str) -> None:
        self.line = line
        self.problem = (
            f"a merge tag in the {attribute} attribute of <{tag}>: merge tags can only be used in text "
            "and in link and image URLs (href, src)"
        )
        super().__init__(f"body line {line}: {self.problem}")


class _Parser(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        # Let every link through the parser so nh3 decides: a javascript: link
        # then keeps its text and loses its URL instead of showing as raw Markdown.
        return True


# One parser per process: building it (rule chains, plugin) costs about as
# much as parsing a recap, and parsing keeps its state per call, not on it.
@cache
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
    """Render the recap body (merge tags already replaced) to sanitised HTML, each placeholder marked for its context."""
    md = parser()
    tokens = md.parse(_mark_lines(body))
    shift_headings(tokens)
    for token in walk(tokens):
        if token.type == "image":
            _size_image(token)
    html = md.renderer.render(tokens, md.options, {})
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel=None)
    return _mark_contexts(clean)


def _mark_lines(body: str) -> str:
    starts = [0] + [match.end() for match in _LINE_BREAK.finditer(body)]

    def lined(match: re.Match[str]) -> str:
        line = bisect_right(starts, match.start())
        return f"{match.group(1)}{TEXT}{match.group(2)[:-1]}L{line}X"

    return _ANY_TEXT_PLACEHOLDER.sub(lined, body)


def _mark_contexts(html: str) -> str:
    """Give every placeholder the kind of the place it ended up in; refuse the places no kind fits."""
    out: list[str] = []
    position = 0
    for tag in _START_TAG.finditer(html):
        out.append(_text(html[position : tag.start()]))
        out.append(html[tag.start() : tag.start(2)])
        out.append(_ATTRIBUTE.sub(partial(_mark_attribute, tag.group(1)), tag.group(2)))
        position = tag.end(2)
    out.append(_text(html[position:]))
    return "".join(out)


def _text(html: str) -> str:
    # Between start tags there is only text, end tags and the '>' of the
    # previous tag; anything else means the reading above is wrong, and a
    # text placeholder there could be inside an attribute.
    if "<" in _END_TAG.sub("", html):
        raise RenderError("the sanitised HTML has markup that cannot be read; please report this recap")
    return _unlined(html, TEXT)


def _mark_attribute(tag: str, match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    found = _LINED.search(value or "")
    if found is None:
        return match.group(0)
    if name.lower() not in URL_ATTRIBUTES:
        raise MergeTagPlacementError(int(found.group(3)), name.lower(), tag.lower())
    if not value[: found.start()].strip():
        # Browsers ignore whitespace before a URL: " *|WEBSITE|*" is a whole URL too.
        value = _unlined(found.group(0), WHOLE_URL) + _unlined(value[found.end() :], URL_PART)
    else:
        value = _unlined(value, URL_PART)
    return f'{name}="{value}"'


def _unlined(html: str, kind: str) -> str:
    return _LINED.sub(lambda match: f"{match.group(1)}{kind}{match.group(2)}X", html)


def _size_image(token: Token) -> None:
    for name in ("width", "height"):
        value = token.attrGet(name)
        if value is not None and not str(value).isdigit():
            token.attrs.pop(name, None)
    if not token.attrGet("width"):
        token.attrSet("width", str(DEFAULT_IMAGE_WIDTH))


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
