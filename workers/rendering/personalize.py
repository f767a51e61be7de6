"""Stage 2 of the render: fill one recipient's fields into the stage-1 output.

Stage 1 leaves a placeholder wherever a personal field goes. Placeholders are
made only of letters and digits, so premailer's serializer (which
percent-encodes ``{{ … }}`` inside href) leaves them intact, and they carry a
nonce chosen per render, so recap content cannot forge one.

A placeholder also records its context, because the same value needs
different treatment in different places:

- ``X`` element text: HTML-escaped (``& < >``), exactly as lxml serialises text;
- ``A`` attribute value: also ``"`` escaped (our own URLs, link titles);
- ``U`` part of a URL (a merge tag inside a link): percent-encoded.

The stage-1 output is split once into literal chunks and slots, so stage 2 is
a join, not a search over the whole document per recipient.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from markupsafe import Markup

from publisher.errors import RenderError

TEXT, ATTRIBUTE, URL_PART = "X", "A", "U"
#: Fields every recipient has. Our own URL fields are complete URLs and only
#: ever go into attributes; the others are subscriber data.
NAME_FIELDS = ("first_name", "last_name", "full_name", "greeting_name", "email")
URL_FIELDS = ("unsubscribe_url", "view_url", "confirm_url", "preferences_url")
PERSONAL_FIELDS = NAME_FIELDS + URL_FIELDS
ATTRIBUTE_PREFIX = "attr_"
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")


def new_nonce() -> str:
    return secrets.token_hex(8)


def placeholder(nonce: str, name: str, kind: str = TEXT) -> str:
    return f"NL{nonce}{kind}{name}X"


def _clean(value: str) -> str:
    # Control characters cannot survive an HTML parser unchanged (and have no
    # business in a name): drop them, keeping tab.
    if value.isprintable():
        return value
    return "".join(char for char in value if char == "\t" or unicodedata.category(char) != "Cc")


@dataclass(frozen=True)
class Recipient:
    """The personal values of one recipient."""

    email: str
    first_name: str
    last_name: str
    unsubscribe_url: str
    view_url: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: The signed confirm link of a double opt-in email; empty for every other email.
    confirm_url: str = ""

    @property
    def preferences_url(self) -> str:
        """The preference page, opened by the unsubscribe link's own token (no second signature per email)."""
        # Tokens never contain "/": the last "/unsubscribe/" is the route's.
        base, found, token = self.unsubscribe_url.rpartition("/unsubscribe/")
        return f"{base}/preferences/{token}" if found else self.unsubscribe_url

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def greeting_name(self) -> str:
        return self.first_name or "there"

    def field(self, name: str) -> str:
        if name.startswith(ATTRIBUTE_PREFIX):
            return _clean(str(self.attributes.get(name.removeprefix(ATTRIBUTE_PREFIX), "")))
        if name not in PERSONAL_FIELDS:
            raise RenderError(f"unknown personal field {name!r}")
        return _clean(str(getattr(self, name)))


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def encode(value: str, kind: str, *, html: bool) -> str:
    """Encode a value for its context; in the plain-text part only URL parts change."""
    if kind == URL_PART:
        return quote(value, safe="")
    if not html:
        return value
    return escape_attribute(value) if kind == ATTRIBUTE else escape_text(value)


class PlaceholderFields:
    """What the layout sees as ``personal``: each field renders as its placeholder.

    Name fields are text placeholders and may only stand in element text; URL
    fields are attribute placeholders for href.
    """

    def __init__(self, nonce: str) -> None:
        self._nonce = nonce

    def __getattr__(self, name: str) -> Markup:
        if name.startswith("_") or name not in PERSONAL_FIELDS:
            raise AttributeError(f"no personal field {name!r}; known: {', '.join(PERSONAL_FIELDS)}")
        kind = ATTRIBUTE if name in URL_FIELDS else TEXT
        return Markup(placeholder(self._nonce, name, kind))  # noqa: S704 (letters and digits only)


class ValueFields:
    """What the layout sees as ``personal`` in a one-pass render: the real values."""

    def __init__(self, recipient: Recipient) -> None:
        self._recipient = recipient

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in PERSONAL_FIELDS:
            raise AttributeError(f"no personal field {name!r}")
        return self._recipient.field(name)


def pattern(nonce: str) -> re.Pattern[str]:
    return re.compile(f"NL{re.escape(nonce)}([XAU])([a-z][a-z0-9_]*?)X")


@dataclass(frozen=True)
class CompiledTemplate:
    """Stage-1 output split into literal chunks and (field, kind) slots."""

    literals: tuple[str, ...]
    slots: tuple[tuple[str, str], ...]

    @classmethod
    def compile(cls, template: str, nonce: str) -> CompiledTemplate:
        parts = pattern(nonce).split(template)
        # split() alternates literal, kind, name, literal, kind, name, …, literal
        literals = tuple(parts[0::3])
        slots = tuple((name, kind) for kind, name in zip(parts[1::3], parts[2::3], strict=True))
        for name, _kind in slots:
            if not name.startswith(ATTRIBUTE_PREFIX) and name not in PERSONAL_FIELDS:
                raise RenderError(f"unknown personal field {name!r}")
        return cls(literals=literals, slots=slots)

    @property
    def fields(self) -> set[str]:
        return {name for name, _ in self.slots}

    def render(self, recipient: Recipient, *, html: bool) -> str:
        out = [self.literals[0]]
        for (name, kind), literal in zip(self.slots, self.literals[1:], strict=True):
            out.append(encode(recipient.field(name), kind, html=html))
            out.append(literal)
        return "".join(out)
