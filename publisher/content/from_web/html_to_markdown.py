"""An article's HTML as recap Markdown: its text and structure, and nothing of the page's code.

Only what a recap can say is written: paragraphs, headings, lists, quotes,
code, tables, emphasis, https and mailto links, and https images with alt
text. Everything else is dropped with its contents (scripts, styles, forms,
frames, SVG) or reduced to its text (any other element); no attribute but a
link's or an image's URL and an image's size survives, so no ``on…``
handler, style or ``javascript:`` URL can come through. Text is escaped for
Markdown: a page's ``<b>`` or ``*|EMAIL|*`` shows as typed, never as markup
or a merge tag. The recap renderer sanitises again (nh3); this is the first
wall, not the only one.

Headings are renumbered so the first is ``##`` and none skips a level, as
lint requires.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import lxml.html  # type: ignore[import-untyped]  # lxml ships no type hints

from publisher.content.rendering.markdown import MERGE_TAG

#: Dropped with everything inside them.
DROPPED = frozenset(
    {"script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
     "form", "button", "input", "select", "option", "textarea", "label", "canvas", "video", "audio", "source", "track",
     "map", "area", "dialog", "head", "title", "meta", "link", "base"}
)  # fmt: skip
BLOCKS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "table", "hr", "figure", "figcaption",
     "div", "section", "article", "main", "header", "footer", "aside", "nav", "dl", "dt", "dd", "address", "details",
     "summary", "body", "html", "center", "hgroup", "fieldset", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"}
)  # fmt: skip
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
#: Widest image in an email: the container's width (publisher.content.rendering.markdown.DEFAULT_IMAGE_WIDTH).
MAX_IMAGE_WIDTH = 600

_SPACE = re.compile(r"[ \t\n\r\f]+")
_SPACES = re.compile(r" {2,}")
#: Characters Markdown reads as markup anywhere in a line (``&`` only before what looks like an entity).
_INLINE_MARKUP = re.compile(r"([\\`*\[\]<{}|~])|&(?=#?[A-Za-z0-9]+;)")
#: An underscore that could open or close emphasis: not between two letters or digits.
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
#: What makes a line a heading, quote, list item, rule or setext underline when it starts it.
_LINE_START = re.compile(r"^(\d+)?(?(1)[.)]|[#>+=-])")
_BACKTICKS = re.compile(r"`+")
#: Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def article_markdown(root: lxml.html.HtmlElement, base_url: str, drop_heading: str | None = None) -> str:
    """The Markdown of the article under ``root``, its links resolved against ``base_url``.

    A first heading reading ``drop_heading`` (the title, shown above the body already) is left out.
    """
    writer = _Writer(_heading_ranks(root), base_url, drop_heading=_plain(drop_heading or "").casefold() or None)
    return "\n\n".join(block for block in writer.blocks(root) if block.strip()).strip()


def text_of(markdown: str) -> str:
    """Roughly the words of ``markdown``: enough to tell an article from a menu."""
    return _SPACE.sub(" ", re.sub(r"[\\#*>`|\[\]()!{}_~-]", " ", markdown)).strip()


def clean_line(value: str) -> str:
    """``value`` as one line of plain text: whitespace collapsed, control characters and separators dropped."""
    return _plain(value)


def _plain(value: str) -> str:
    spaced = "".join(" " if unicodedata.category(char) in ("Zl", "Zp") or char in "\t\n\r\f\v" else char for char in value)
    return _SPACE.sub(" ", "".join(char for char in spaced if not _dropped(char))).strip()


def _dropped(char: str) -> bool:
    """Control characters, and the bidirectional overrides that make text read otherwise than it is stored."""
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


def _heading_ranks(root: lxml.html.HtmlElement) -> dict[str, int]:
    used = sorted({element.tag for element in root.iter(*HEADINGS)})
    return {tag: index for index, tag in enumerate(used)}


@dataclass
class _Writer:
    ranks: dict[str, int]
    base_url: str
    drop_heading: str | None = None
    #: The level of the last heading written; the title above the body is the h1.
    level: int = 1
    #: Headings seen so far, the one left out included.
    headings: int = 0

    def blocks(self, element: lxml.html.HtmlElement) -> list[str]:
        """The blocks of a container: runs of inline content become paragraphs, block children their own blocks."""
        out: list[str] = []
        run: list[str] = [_escape_text(element.text)]
        for child in element:
            tag = _tag(child)
            if tag in BLOCKS:
                out.append(_paragraph("".join(run)))
                run = []
                out.extend(self.block(child, tag))
            else:
                run.append(self.inline(child, tag))
            run.append(_escape_text(child.tail))
        out.append(_paragraph("".join(run)))
        return [block for block in out if block]

    def block(self, element: lxml.html.HtmlElement, tag: str) -> list[str]:
        if tag in HEADINGS:
            return self.heading(element, tag)
        if tag in ("ul", "ol"):
            return [self.list_block(element, tag)]
        if tag == "blockquote":
            return ["\n".join(f"> {line}".rstrip() for line in "\n\n".join(self.blocks(element)).splitlines())]
        if tag == "pre":
            return [_fenced(element.text_content())]
        if tag == "table":
            return [_table(self, element)]
        if tag == "hr":
            return ["* * *"]
        if tag in ("figcaption", "caption", "dt", "summary"):
            text = _paragraph(self.inline_children(element))
            mark = {"figcaption": "*", "dt": "**"}.get(tag, "")
            return [f"{mark}{text}{mark}"] if text else []
        # Any other block (div, section, and a li or td outside its list or table): its content, as blocks.
        return self.blocks(element)

    def heading(self, element: lxml.html.HtmlElement, tag: str) -> list[str]:
        text = _paragraph(self.inline_children(element).replace("\n", " "))
        if not text:
            return []
        self.headings += 1
        if self.headings == 1 and self.drop_heading is not None and _plain(element.text_content()).casefold() == self.drop_heading:
            return []
        # The top level used becomes ##, each next one a level deeper; a heading never goes more than one level below the last.
        self.level = min(self.ranks.get(tag, 0) + 2, self.level + 1, 6)
        return [f"{'#' * self.level} {text}"]

    def list_block(self, element: lxml.html.HtmlElement, tag: str) -> str:
        start = element.get("start", "1")
        number = int(start) if tag == "ol" and start.isdigit() and len(start) < 9 else 1
        items: list[str] = []
        for child in element:
            child_tag = _tag(child)
            content = self.blocks(child) if child_tag == "li" else self.block(child, child_tag) if child_tag in BLOCKS else []
            if content:
                items.append(_item(f"{number + len(items)}. " if tag == "ol" else "- ", content))
        # An item of several blocks makes the list loose: its items are then separated by blank lines.
        return ("\n\n" if any("\n\n" in item for item in items) else "\n").join(items)

    def inline_children(self, element: lxml.html.HtmlElement) -> str:
        parts = [_escape_text(element.text)]
        for child in element:
            tag = _tag(child)
            parts.append(self.inline(child, tag) if tag not in BLOCKS else " " + _squash(self.blocks(child)) + " ")
            parts.append(_escape_text(child.tail))
        return "".join(parts)

    def inline(self, element: lxml.html.HtmlElement, tag: str) -> str:
        if tag in DROPPED:
            return ""
        if tag == "br":
            # A line break; _paragraph makes it a hard break between lines that have text.
            return "\n"
        if tag == "img":
            return _image(element, self.base_url)
        if tag == "code" or tag in ("kbd", "samp", "tt"):
            return _code_span(element.text_content())
        inner = self.inline_children(element)
        if tag in ("strong", "b"):
            return _wrap(inner, "**")
        if tag in ("em", "i", "cite"):
            return _wrap(inner, "*")
        if tag in ("s", "del", "strike"):
            return _wrap(inner, "~~")
        if tag == "q":
            return f"“{inner}”"
        if tag == "a":
            return _link(element, inner, self.base_url)
        return inner


def _tag(element: lxml.html.HtmlElement) -> str:
    # Comments and processing instructions have a function for a tag: they are dropped.
    return element.tag.lower() if isinstance(element.tag, str) else "script"


def _escape_text(text: str | None) -> str:
    if not text:
        return ""
    plain = "".join(" " if unicodedata.category(char) in ("Zl", "Zp") else char for char in text)
    plain = "".join(char for char in plain if not _dropped(char) or char in "\t\n\r\f")
    escaped = _INLINE_MARKUP.sub(lambda match: "\\" + (match.group(1) or "&"), _SPACE.sub(" ", plain))
    return _LOOSE_UNDERSCORE.sub(r"\\_", escaped)


def _paragraph(inline: str) -> str:
    """Inline Markdown as a paragraph: trimmed, line breaks made hard breaks, each line safe to start with what it starts with."""
    # Runs of spaces are what dropped elements leave between their neighbours' text; code spans had theirs collapsed already.
    lines = [_LINE_START.sub(_escape_start, _SPACES.sub(" ", line.strip())) for line in inline.split("\n") if line.strip()]
    return "\\\n".join(lines)


def _escape_start(match: re.Match[str]) -> str:
    # "1." and "2)" start an ordered list: the punctuation is escaped, as a backslash before a digit would be shown.
    digits = match.group(1) or ""
    return f"{digits}\\{match.group(0)[len(digits) :]}"


def _squash(blocks: list[str]) -> str:
    return " ".join(block.replace("\\\n", " ").replace("\n", " ") for block in blocks)


def _item(marker: str, blocks: list[str]) -> str:
    """A list item: the marker, then its blocks indented under the item's text."""
    pad = " " * len(marker)
    lines = "\n\n".join(blocks).split("\n")
    return "\n".join([marker + lines[0], *(pad + line if line else "" for line in lines[1:])])


def _wrap(inner: str, mark: str) -> str:
    core = inner.strip()
    if not core or "\n" in core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{mark}{core}{mark}{trail}"


def _link(element: lxml.html.HtmlElement, inner: str, base_url: str) -> str:
    href = _absolute(element.get("href"), base_url)
    text = inner.strip()
    if not text:
        return inner
    url = _url(href) if href.lower().startswith(("https://", "mailto:")) else ""
    if not url:
        # Only https and mailto links pass lint; any other keeps its text and loses its URL.
        return inner
    return inner.replace(text, f"[{text}]({url})", 1)


def _image(element: lxml.html.HtmlElement, base_url: str) -> str:
    src = _absolute(element.get("src"), base_url)
    url = _url(src) if src.lower().startswith("https://") else ""
    alt = _escape_text(_plain(element.get("alt") or ""))
    if not url or not alt:
        # An image must be https and say what it shows, or lint refuses it.
        return ""
    size = ""
    width, height = element.get("width", ""), element.get("height", "")
    if width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0 and len(width) < 6 and len(height) < 6:
        shown = min(int(width), MAX_IMAGE_WIDTH)
        size = f"{{width={shown} height={max(1, round(int(height) * shown / int(width)))}}}"
    return f"![{alt}]({url}){size}"


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


def _code_span(text: str) -> str:
    code = _defused(_SPACE.sub(" ", text).strip())
    if not code:
        return ""
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(code)), default=0) + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{fence}{pad}{code}{pad}{fence}"


def _fenced(text: str) -> str:
    code = _defused(text.strip("\n"))
    if not code.strip():
        return ""
    fence = "`" * max(3, max((len(run) for run in _BACKTICKS.findall(code)), default=0) + 1)
    return f"{fence}\n{code}\n{fence}"


def _defused(code: str) -> str:
    """Code as shown, with no merge tag in it: a page's ``*|EMAIL|*`` is text, not the reader's address."""
    code = "".join(char for char in code if unicodedata.category(char) != "Cc" or char in "\n\t")
    return MERGE_TAG.sub(lambda match: match.group(0).replace("*|", "*\u200b|"), code)


def _table(writer: _Writer, table: lxml.html.HtmlElement) -> str:
    rows = [
        [_paragraph(writer.inline_children(cell).replace("\n", " ")) or " " for cell in row if _tag(cell) in ("td", "th")]
        for row in table.iter("tr")
    ]
    rows = [row for row in rows if row]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [" "] * (width - len(row)) for row in rows]
    lines = [f"| {' | '.join(rows[0])} |", f"|{'---|' * width}", *(f"| {' | '.join(row)} |" for row in rows[1:])]
    return "\n".join(lines)
