"""The plain-text part, rendered from the same Markdown tokens as the HTML.

Not a tag-stripped dump: headings are underlined, lists keep their markers and
nesting, links read ``text (url)``, block quotes are prefixed with ``> `` and
paragraphs are wrapped at 78 columns.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import nh3
from markdown_it.token import Token

from publisher.content.rendering.markdown import URL_SCHEMES, in_context, parse, shift_headings
from publisher.content.rendering.personalize import URL_PART, WHOLE_URL

WIDTH = 78
UNDERLINES = {"h2": "-", "h3": "~"}


@dataclass
class _ListState:
    ordered: bool
    counter: int = 1


@dataclass
class _Writer:
    #: Rendered blocks with the top-level list they belong to, if any: items
    #: of one list are separated by a newline, other blocks by a blank line.
    blocks: list[tuple[str, int | None]] = field(default_factory=list)
    list_group: int = 0
    lists: list[_ListState] = field(default_factory=list)
    quote_depth: int = 0
    pending_marker: str | None = None

    def add(self, text: str, *, wrap: bool = True) -> None:
        indent = "   " * max(0, len(self.lists) - 1) if self.lists else ""
        marker = self.pending_marker or ""
        self.pending_marker = None
        prefix = "> " * self.quote_depth
        first = prefix + indent + marker
        rest = prefix + indent + " " * len(marker)
        if wrap:
            lines = wrap_text(text, initial_indent=first, subsequent_indent=rest) or [first.rstrip()]
        else:
            lines = [(first if i == 0 else rest) + line for i, line in enumerate(text.splitlines())]
        self.blocks.append(("\n".join(lines), self.list_group if self.lists else None))

    def text(self) -> str:
        out: list[str] = []
        previous: int | None = None
        for block, group in self.blocks:
            if out:
                out.append("\n" if group is not None and group == previous else "\n\n")
            out.append(block)
            previous = group
        return "".join(out).strip() + "\n"


PLACEHOLDER = re.compile(r"NL[0-9a-f]{16}[XAUW][a-z][a-z0-9_]*X")
_LEADING_PLACEHOLDER = re.compile(r"NL[0-9a-f]{16}X[a-z][a-z0-9_]*X")
#: What a placeholder counts as while wrapping: about the length of a name.
_STAND_IN = "\ue000{:05d}"
_RESTORE = re.compile("\ue000(\\d{5})")


def wrap_text(text: str, initial_indent: str = "", subsequent_indent: str = "") -> list[str]:
    """Wrap at 78 columns, counting each placeholder as a short word, never breaking URLs."""
    found: list[str] = []

    def stand_in(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return _STAND_IN.format(len(found) - 1)

    lines = textwrap.wrap(
        PLACEHOLDER.sub(stand_in, text),
        WIDTH,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if not found:
        return lines
    return [_RESTORE.sub(lambda m: found[int(m.group(1))], line) for line in lines]


def inline_text(token: Token) -> str:
    """Flatten an inline token: links become ``text (url)``, images their alt text."""
    parts: list[str] = []
    links: list[tuple[str | None, int]] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "link_open":
            links.append((_safe_href(child.attrGet("href")), len(parts)))
        elif child.type == "link_close" and links:
            href, start = links.pop()
            label = "".join(parts[start:]).strip()
            if href and label not in (href, href.removeprefix("mailto:")):
                parts.append(f" ({href})")
        elif child.type == "image" and child.content:
            parts.append(f"[{child.content}]")
        elif child.type == "html_inline":
            parts.append(nh3.clean(child.content, tags=set()))
    return _squash("".join(parts))


def _safe_href(href: object) -> str | None:
    # The same rules as the HTML part: only http, https and mailto survive,
    # and a merge tag that starts the URL is the whole URL, judged per
    # recipient. Its " (url)" goes as one piece: the parentheses in the rest
    # are percent-encoded so the first ")" closes it.
    if not isinstance(href, str):
        return None
    whole = _LEADING_PLACEHOLDER.match(href)
    if whole is not None:
        rest = href[whole.end() :].replace("(", "%28").replace(")", "%29")
        return in_context(whole.group(0), WHOLE_URL) + in_context(rest, URL_PART)
    if urlsplit(href).scheme.lower() not in URL_SCHEMES:
        return None
    return in_context(href, URL_PART)


def _squash(text: str) -> str:
    return " ".join(text.split())


def to_text(body: str) -> str:
    """Render recap Markdown as wrapped plain text."""
    tokens = parse(body)
    shift_headings(tokens)
    writer = _Writer()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            title = inline_text(tokens[i + 1])
            underline = UNDERLINES.get(token.tag)
            writer.add(title + ("\n" + underline * min(len(title), WIDTH) if underline else ""), wrap=False)
            i += 3
            continue
        if kind == "inline":
            writer.add(inline_text(token))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if not writer.lists:
                writer.list_group += 1
            ordered = kind == "ordered_list_open"
            writer.lists.append(_ListState(ordered=ordered, counter=int(token.attrGet("start") or 1)))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            writer.lists.pop()
        elif kind == "list_item_open":
            state = writer.lists[-1]
            writer.pending_marker = f"{state.counter}. " if state.ordered else "- "
            state.counter += 1
        elif kind == "blockquote_open":
            writer.quote_depth += 1
        elif kind == "blockquote_close":
            writer.quote_depth -= 1
        elif kind in ("fence", "code_block"):
            writer.add(textwrap.indent(token.content.rstrip("\n"), "    "), wrap=False)
        elif kind == "hr":
            writer.add("-" * 20, wrap=False)
        elif kind == "html_block":
            cleaned = nh3.clean(token.content, tags=set()).strip()
            if cleaned:
                writer.add(cleaned)
        elif kind == "table_open":
            i = _table(tokens, i, writer)
            continue
        i += 1
    return writer.text()


def _table(tokens: list[Token], start: int, writer: _Writer) -> int:
    rows: list[list[str]] = []
    i = start
    while tokens[i].type != "table_close":
        if tokens[i].type == "tr_open":
            rows.append([])
        elif tokens[i].type == "inline":
            rows[-1].append(inline_text(tokens[i]))
        i += 1
    writer.add("\n".join(" | ".join(row) for row in rows), wrap=False)
    return i + 1
