"""The email under inspection: its HTML text, parsed tree and CSS, shared by every check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import lxml.etree  # type: ignore[import-untyped]  # lxml ships no type hints
import lxml.html  # type: ignore[import-untyped]

from publisher.content.lint.css import Declaration, StyleSheet, parse_declarations, parse_stylesheet

_DOCTYPE = re.compile(r"\A\ufeff?\s*<!doctype[^>]*>", re.IGNORECASE)
#: Elements the HTML standard renders bold when no CSS says otherwise.
BOLD_BY_DEFAULT = frozenset({"b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"})


class Element(Protocol):
    """The part of lxml's ``HtmlElement`` the checks use (lxml itself is untyped)."""

    tag: str
    attrib: dict[str, str]
    text: str | None
    sourceline: int | None

    def get(self, key: str, default: str | None = None) -> str | None: ...
    def getparent(self) -> Element | None: ...
    def iterancestors(self) -> Iterator[Element]: ...
    def text_content(self) -> str: ...
    def __iter__(self) -> Iterator[Element]: ...


@dataclass
class Document:
    """One rendered email; parsed once, read by every check."""

    html: str
    public_url: str
    root: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = lxml.html.document_fromstring(self.html)

    @property
    def doctype(self) -> str:
        """Return the document's own doctype declaration, "" when it has none."""
        # Read from the text: lxml reports an HTML 4 doctype for a document
        # that declares none.
        match = _DOCTYPE.match(self.html)
        return match.group(0) if match else ""

    def elements(self, tag: str | None = None) -> list[Element]:
        """Return the elements (never comments) in document order, optionally one tag only."""
        found: list[Element] = list(self.root.iter(lxml.etree.Element))
        return [element for element in found if tag is None or element.tag == tag]

    @cached_property
    def body(self) -> Element | None:
        bodies = self.elements("body")
        return bodies[0] if bodies else None

    @cached_property
    def preheader(self) -> Element | None:
        """Return the body's first element: where the hidden preheader must be."""
        if self.body is None:
            return None
        children = [child for child in self.body if isinstance(child.tag, str)]
        return children[0] if children else None

    def in_preheader(self, element: Element) -> bool:
        preheader = self.preheader
        return preheader is not None and (element is preheader or any(a is preheader for a in element.iterancestors()))

    @cached_property
    def stylesheets(self) -> list[StyleSheet]:
        """Parse every ``<style>`` block, in document order."""
        return [parse_stylesheet(element.text_content()) for element in self.elements("style")]

    def inline_style(self, element: Element) -> tuple[Declaration, ...]:
        return parse_declarations(element.get("style") or "")

    def inline_value(self, element: Element, name: str) -> str | None:
        """Return the last inline value of CSS property ``name`` (the one that wins)."""
        values = [declaration.value for declaration in self.inline_style(element) if declaration.name == name]
        return values[-1] if values else None

    def inherited_value(self, element: Element, name: str) -> tuple[str, Element] | None:
        """Return the nearest inline value of ``name`` on ``element`` or an ancestor, and where it was set."""
        for candidate in (element, *element.iterancestors()):
            value = self.inline_value(candidate, name)
            if value is not None:
                return value, candidate
        return None

    def hidden(self, element: Element) -> bool:
        """Tell whether ``element`` or an ancestor has an inline ``display: none``."""
        return any(self.inline_value(candidate, "display") == "none" for candidate in (element, *element.iterancestors()))


def describe(element: Element) -> str:
    """Name an element for a reader: tag, its most telling attribute and its line."""
    label = element.tag
    for attribute in ("src", "href", "class", "id", "name"):
        value = element.get(attribute)
        if value:
            shown = value if len(value) <= 60 else value[:57] + "…"
            label += f' {attribute}="{shown}"'
            break
    line = f" (line {element.sourceline})" if element.sourceline else ""
    return f"<{label}>{line}"
