"""An article's HTML as recap Markdown: its text and structure, and nothing of the page's code.

The tree is cleaned first, against allow-lists kept here as data; markdownify
then writes what is left as Markdown and escapes its text. Only what a recap
can say is kept: paragraphs, headings, lists, quotes, code, tables, emphasis,
https and mailto links, and https images with alt text. Everything else is
dropped with its contents (scripts, styles, forms, frames, SVG) or reduced to
its text (any other element); no attribute but a link's or an image's URL,
an image's size and a list's start survives, so no ``on…`` handler, style or
``javascript:`` URL can come through. Text is escaped for Markdown: a page's
``<b>`` or ``*|EMAIL|*`` shows as typed, never as markup or a merge tag. The
recap renderer sanitises again (nh3); this is the first wall, not the only one.

Headings are renumbered so the first is ``##`` and none skips a level, as
lint requires.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import lxml.etree  # type: ignore[import-untyped]  # lxml ships no type hints
import lxml.html  # type: ignore[import-untyped]
from bs4.element import NavigableString, PageElement, Tag
from markdownify import MarkdownConverter

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
#: Dropped with everything inside them.
DROPPED = frozenset(
    {"script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
     "form", "button", "input", "select", "option", "textarea", "label", "canvas", "video", "audio", "source", "track",
     "map", "area", "dialog", "head", "title", "meta", "link", "base"}
)  # fmt: skip
#: Written as the element that means the same to Markdown; containers become paragraphs' parents.
RENAMED = {
    "b": "strong", "i": "em", "cite": "em", "s": "del", "strike": "del", "kbd": "code", "samp": "code", "tt": "code",
    "summary": "p", "section": "div", "article": "div", "main": "div", "header": "div", "footer": "div", "aside": "div",
    "nav": "div", "figure": "div", "dl": "div", "dd": "div", "address": "div", "details": "div", "center": "div",
    "hgroup": "div", "fieldset": "div", "body": "div", "html": "div",
}  # fmt: skip
#: What markdownify writes; any other element is reduced to its text.
KEPT = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "table", "caption",
     "thead", "tbody", "tfoot", "tr", "td", "th", "hr", "br", "a", "img", "strong", "em", "del", "q", "figcaption", "dt"}
)  # fmt: skip
#: Where an element means something; elsewhere (a li outside a list) it is a plain container.
PARENTS = {
    "li": ("ul", "ol"), "tr": ("table", "thead", "tbody", "tfoot"), "td": ("tr",), "th": ("tr",),
    "thead": ("table",), "tbody": ("table",), "tfoot": ("table",), "caption": ("table",),
}  # fmt: skip
#: Kept elements that sit inside a line of text.
INLINE = frozenset({"a", "img", "code", "strong", "em", "del", "q"})
BLOCKS = KEPT - INLINE - {"br"}
#: Written on one line: a block inside is run into it.
ONE_LINE = INLINE | {"td", "th", *HEADINGS}
ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt", "width", "height"}, "ol": {"start"}}
#: Widest image in an email: the container's width (publisher.content.rendering.markdown.DEFAULT_IMAGE_WIDTH).
MAX_IMAGE_WIDTH = 600

_SPACE = re.compile(r"[ \t\n\r\f]+")
_NUMBER = re.compile(r"[0-9]{1,8}")
#: An ``&`` that cannot start an entity needs no backslash: "AT&T" stays as typed.
_PLAIN_AMPERSAND = re.compile(r"\\&(?!#?[A-Za-z0-9]+;)")
_BACKTICKS = re.compile(r"`+")
#: Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def article_markdown(root: lxml.html.HtmlElement, base_url: str, drop_heading: str | None = None) -> str:
    """The Markdown of the article under ``root``, its links resolved against ``base_url``.

    A first heading reading ``drop_heading`` (the title, shown above the body already) is left out.
    """
    tree = copy.deepcopy(root)
    tree.tag = "div"
    _clean(tree, base_url)
    _renumber_headings(tree, _plain(drop_heading or "").casefold() or None)
    return _Converter().convert(lxml.html.tostring(tree, encoding="unicode")).strip()


def text_of(markdown: str) -> str:
    """Roughly the words of ``markdown``: enough to tell an article from a menu."""
    return _SPACE.sub(" ", re.sub(r"[\\#*>`|\[\]()!{}_~-]", " ", markdown)).strip()


def clean_line(value: str) -> str:
    """``value`` as one line of plain text: whitespace collapsed, control characters and separators dropped."""
    return _plain(value)


def _plain(value: str) -> str:
    return _SPACE.sub(" ", _clean_text(value)).strip()


def _clean_text(text: str) -> str:
    """``text`` without control characters and the bidirectional overrides that make text read otherwise than it is stored."""
    spaced = "".join(" " if unicodedata.category(char) in ("Zl", "Zp") or char == "\v" else char for char in text)
    return "".join(char for char in spaced if char in "\t\n\r\f" or (unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS))


def _clean(tree: lxml.html.HtmlElement, base_url: str) -> None:
    """Leave in ``tree`` only the elements, attributes, URLs and characters a recap may hold."""
    # Characters first: lxml refuses to join a control character into the text a dropped element leaves.
    for element in tree.iter():
        element.text = _clean_text(element.text) if element.text else element.text
        element.tail = _clean_text(element.tail) if element.tail else element.tail
    for element in list(tree.iterdescendants()):
        # Comments and processing instructions have a function for a tag: they are dropped.
        tag = element.tag.lower() if isinstance(element.tag, str) else "script"
        if tag in DROPPED:
            element.drop_tree()
            continue
        tag = RENAMED.get(tag, tag)
        ancestors = {ancestor.tag for ancestor in element.iterancestors()}
        # Where one line is written (in a link, a cell, a heading), preformatted text is a code span and any other block
        # its text set apart by spaces: markup that needs a line of its own would not be read there.
        tag = "code" if tag == "pre" and ancestors & ONE_LINE else tag
        block_in_line = tag in BLOCKS and bool(ancestors & ONE_LINE)
        if block_in_line:
            element.text, element.tail = f" {element.text or ''}", f" {element.tail or ''}"
        if block_in_line or tag not in KEPT or (tag == "code" and ancestors & {"code", "pre"}):
            element.drop_tag()
            continue
        parent = element.getparent()
        element.tag = tag if tag not in PARENTS or (parent is not None and parent.tag in PARENTS[tag]) else "div"
        for name in set(element.attrib) - ATTRIBUTES.get(element.tag, set()):
            del element.attrib[name]
        if tag == "a":
            _keep_url(element, "href", _absolute(element.get("href"), base_url), ("https://", "mailto:"))
        elif tag == "img":
            _keep_url(element, "src", _absolute(element.get("src"), base_url), ("https://",))
            if not element.get("src") or not _plain(element.get("alt") or ""):
                # An image must be https and say what it shows, or lint refuses it.
                element.drop_tree()
        elif tag == "ol" and not _NUMBER.fullmatch(element.get("start", "")):
            element.attrib.pop("start", None)
    _part_code_spans(tree)


def _part_code_spans(tree: lxml.html.HtmlElement) -> None:
    """Put a space between code spans with no text between them: their backticks would make one run that closes neither."""
    last_code = None
    for event, element in lxml.etree.iterwalk(tree, events=("start", "end")):
        if event == "start" and element.tag == "code" and last_code is not None:
            last_code.tail = " " + (last_code.tail or "")
        if event == "end" and element.tag == "code":
            last_code = element
        if ((element.text if event == "start" else element.tail) or "").strip():
            last_code = None


def _keep_url(element: lxml.html.HtmlElement, name: str, url: str, schemes: tuple[str, ...]) -> None:
    # Only https (and for links mailto) passes lint; a link with any other keeps its text and loses its URL.
    written = _url(url) if url.lower().startswith(schemes) else ""
    if written:
        element.set(name, written)
    else:
        element.attrib.pop(name, None)


def _renumber_headings(tree: lxml.html.HtmlElement, drop_heading: str | None) -> None:
    headings = list(tree.iter(*HEADINGS))
    ranks = {tag: index for index, tag in enumerate(sorted({heading.tag for heading in headings}))}
    # The title above the body is the h1; the top level used becomes ##, each next one a level deeper,
    # and a heading never goes more than one level below the last.
    level = 1
    for number, heading in enumerate(heading for heading in headings if _plain(heading.text_content())):
        if number == 0 and drop_heading is not None and _plain(heading.text_content()).casefold() == drop_heading:
            heading.drop_tree()
            continue
        level = min(ranks[heading.tag] + 2, level + 1, 6)
        heading.tag = f"h{level}"
    for heading in headings:
        if not _plain(heading.text_content()):
            heading.drop_tag()


class _Converter(MarkdownConverter):
    """markdownify as the recap wants it: ATX headings, ``-`` bullets, every Markdown character in text escaped."""

    def __init__(self) -> None:
        super().__init__(
            autolinks=False, bullets="-", escape_misc=True, heading_style="atx", newline_style="backslash", table_infer_header=True
        )

    def escape(self, text: str, parent_tags: set[str]) -> str:
        escaped: str = super().escape(text, parent_tags)  # type: ignore[misc]  # the stubs list only the public API
        # Braces too: "{…}" after an image or link would be read as its attributes.
        return _PLAIN_AMPERSAND.sub("&", escaped).replace("{", "\\{").replace("}", "\\}")

    def convert_br(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "pre" in parent_tags or "_inline" in parent_tags:
            return "\n" if "pre" in parent_tags else " "
        # A hard break only between two lines of text: at a block's end, beside a block or doubled it would write a stray
        # backslash or a blank line. Of a run of breaks, the last one writes it.
        before = _nearest(sibling for sibling in el.previous_siblings if not _is(sibling, "br"))
        return "\\\n" if _is_text(before) and _is_text(_nearest(el.next_siblings)) else ""

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return ""
        size = ""
        width, height = str(el.get("width", "")), str(el.get("height", ""))
        if _NUMBER.fullmatch(width) and _NUMBER.fullmatch(height) and int(width) > 0 and int(height) > 0:
            shown = min(int(width), MAX_IMAGE_WIDTH)
            size = f"{{width={shown} height={max(1, round(int(height) * shown / int(width)))}}}"
        return f"![{self.escape(_plain(str(el['alt'])), parent_tags)}]({el['src']}){size}"

    def convert_code(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # On one line: a line break inside a code span could start an HTML block on the next line.
        code = _defused(_SPACE.sub(" ", text))
        if "td" in parent_tags or "th" in parent_tags:
            # A table reads "|" as a cell's end even inside a code span; escaped, it is "|" in the code.
            code = code.replace("|", "\\|")
        return str(super().convert_code(el, code, parent_tags))  # type: ignore[misc]  # the stubs list only the public API

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        code = _defused(text.strip("\n"))
        # A fence longer than any run of backticks in the code, so the code cannot close it.
        fence = "`" * max(3, max((len(run) for run in _BACKTICKS.findall(code)), default=0) + 1)
        return f"\n\n{fence}\n{code}\n{fence}\n\n" if code.strip() else ""

    def convert_figcaption(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return _emphasised(text, "*")

    def convert_dt(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return _emphasised(text, "**")


def _nearest(siblings: Iterable[PageElement]) -> PageElement | None:
    return next((sibling for sibling in siblings if not isinstance(sibling, NavigableString) or sibling.strip()), None)


def _is_text(element: PageElement | None) -> bool:
    return isinstance(element, NavigableString) or _is(element, INLINE)


def _is(element: PageElement | None, names: str | frozenset[str]) -> bool:
    return isinstance(element, Tag) and element.name in names


def _emphasised(text: str, mark: str) -> str:
    text = text.strip()
    return f"\n\n{mark}{text}{mark}\n\n" if text and "\n" not in text else f"\n\n{text}\n\n"


def _defused(code: str) -> str:
    """Code as shown, with no merge tag in it: a page's ``*|EMAIL|*`` is text, not the reader's address."""
    # Every "*|", not only each whole tag: "*|A|*|B|*" holds two that share a "*".
    return code.replace("*|", "*\u200b|")


def _absolute(url: str | None, base_url: str) -> str:
    """``url`` resolved against the page's; empty when there is none (a link the page's cleaner emptied stays text)."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        return urljoin(base_url, url)
    except ValueError:
        return ""


def _url(url: str) -> str:
    """``url`` written for a Markdown link, or empty when it cannot be (a host name IDNA refuses)."""
    parts = urlsplit(url)
    try:
        # A host name in punycode: percent-encoding is for the rest of the URL, not for the host.
        netloc = parts.netloc.encode("idna").decode("ascii") if not parts.netloc.isascii() else parts.netloc
    except UnicodeError:
        return ""
    # The rest percent-encoded where Markdown or a merge tag would read it: spaces,
    # brackets, parentheses, '*' and '|'; '&' escaped so '&copy;' stays as typed.
    rest = quote(urlunsplit(parts._replace(scheme="", netloc="")), safe="/:?#@!$&'+,;=%-._~").replace("&", "\\&")
    return f"{parts.scheme}://{netloc}{rest}" if netloc else f"{parts.scheme}:{rest}"
