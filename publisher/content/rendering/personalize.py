"""Stage 2 of the render: fill one recipient's fields into the stage-1 output.

Stage 1 leaves a placeholder wherever a personal field goes. Placeholders are
made only of letters and digits, so premailer's serializer (which
percent-encodes ``{{ … }}`` inside href) leaves them intact, and they carry a
nonce chosen per render, so recap content cannot forge one.

A placeholder also records its context, because the same value needs
different treatment in different places:

- ``X`` element text: HTML-escaped (``& < >``), exactly as lxml serialises text;
- ``A`` attribute value: also ``"`` escaped (our own URLs, link titles);
- ``U`` part of a URL (a merge tag later in a link): percent-encoded;
- ``W`` a whole URL (a merge tag at the start of an href or src): kept only
  with an http, https or mailto scheme, else the whole attribute is dropped.

A ``W`` placeholder owns the attribute it starts (`` href="…"``, name, rest of
the value and closing quote) or, in the plain-text part, the `` (…)`` after a
link's text: stage 2 writes all of it or none of it, so a refused URL leaves
the element without the attribute instead of with an empty or relative one.

The stage-1 output is split once into literal chunks and slots, so stage 2 is
a join, not a search over the whole document per recipient.

A tracked issue (``publisher.content.rendering.tracking``) marks each tracked
link and its open pixel with ``T`` markers around two forms: the tracked one,
which takes the recipient's signed tracking token, and the original one. A
recipient without a token (the view page, the archive, a preview) gets the
original link and no pixel; stage 2 only picks one of two prepared strings.

A provider that sends JSON can take each body as a JSON string instead
(``render_json``): the literal chunks are escaped for JSON once per batch and
only the recipient's values per email, so the body is never converted to UTF-8
and scanned for escapes as a whole. JSON escapes character by character, so
the pieces joined are byte for byte the JSON of the whole body.
"""

from __future__ import annotations

import html as html_entities
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import quote

import orjson
from markupsafe import Markup

from publisher.core.errors import RenderError
from publisher.core.message import JsonText

TEXT, ATTRIBUTE, URL_PART, WHOLE_URL, TRACKED = "X", "A", "U", "W", "T"
#: The markers of a tracked span, in order: tracked form (before and after the token), then the original form.
TRACK_START, TRACK_TOKEN, TRACK_OR, TRACK_END = "track", "token", "or", "end"
TRACK_MARKERS = (TRACK_START, TRACK_TOKEN, TRACK_OR, TRACK_END)
#: The field a tracked issue needs of each recipient: the worker signs a token only for issues that use it.
TRACK_FIELD = "track_token"
#: Schemes a whole-URL merge tag may give; anything else (javascript:, data:, a relative URL) drops the attribute.
WHOLE_URL_SCHEMES = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
#: Characters a whole URL keeps as they are; every other one is percent-encoded.
#: The set is what lxml's serialiser leaves alone in href and src, so the
#: filled URL is the same whether premailer sees it (one-pass) or not (stage 2).
URL_SAFE = "!#$%&()*+,/:;=?@[]~"
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
    #: The signed tracking token of this delivery (``LinkSigner.track_token``); empty: original links, no pixel.
    track_token: str = ""

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


def whole_url(value: str) -> str | None:
    """The URL a whole-URL merge tag gives, or None when its scheme is not http, https or mailto.

    The scheme is judged on the value with entities decoded and whitespace and
    control characters removed (`` java&#x09;script:`` is javascript:), and on
    the URL as written out, so neither reading can be a script.
    """
    url = quote(value.strip(), safe=URL_SAFE)
    if not WHOLE_URL_SCHEMES.match(url) or not WHOLE_URL_SCHEMES.match(_bare(value)):
        return None
    return url


def _bare(value: str) -> str:
    # Decode entities until nothing changes (&amp;#106; is &#106; is j):
    # each round shortens the string, so this ends.
    decoded = html_entities.unescape(value)
    while decoded != value:
        value, decoded = decoded, html_entities.unescape(decoded)
    return "".join(char for char in value if not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf"))


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
    return re.compile(f"NL{re.escape(nonce)}([XAUWT])([a-z][a-z0-9_]*?)X")


def check_text_outside_tags(html: str, nonce: str) -> None:
    """Refuse a stage-1 HTML whose text placeholder stands inside a tag.

    Text is escaped as lxml writes text (``"`` stays as it is), which is only
    safe outside tags. The recap body's placeholders are marked by where they
    ended up (``markdown.to_html``); this catches a layout that puts a text
    field in an attribute. lxml writes ``<`` and ``>`` in attribute values as
    entities, so an unclosed ``<`` before a placeholder means it is in a tag.
    """
    for match in pattern(nonce).finditer(html):
        if match.group(1) == TEXT and html.rfind("<", 0, match.start()) > html.rfind(">", 0, match.start()):
            raise RenderError(f"the text field {match.group(2)!r} is inside a tag: use it in element text only")


#: What stands before a whole-URL placeholder: the attribute's name and opening
#: quote in HTML, the opening parenthesis of ``text (url)`` in the plain text.
_OPENING = re.compile(r"""(?:\s+(?:href|src)=(["'])|\s?(\())\Z""")
_CLOSING = {'"': '"', "'": "'", "(": ")"}


@dataclass(frozen=True)
class WholeUrl:
    """A whole-URL slot: the opening, the field, the rest of the URL and the closing character, kept or dropped together."""

    name: str
    opening: str
    rest: CompiledTemplate

    def render(self, recipient: Recipient, *, html: bool) -> str:
        url = whole_url(recipient.field(self.name))
        if url is None:
            return ""
        return self.opening + (escape_attribute(url) if html else url) + self.rest.render(recipient, html=html)

    def render_json(self, recipient: Recipient, *, html: bool) -> bytes:
        return json_chars(self.render(recipient, html=html))


@dataclass(frozen=True)
class Tracked:
    """A tracked span: ``head + token + tail`` for a recipient with a tracking token, else ``plain``.

    All three are stage-1 text, already escaped for their part; the token is
    signed by us and made of URL-safe base64 and dots only, so it needs no
    escaping in HTML, text or JSON.
    """

    head: str
    tail: str
    plain: str

    def render(self, recipient: Recipient, *, html: bool) -> str:
        token = recipient.track_token
        return f"{self.head}{token}{self.tail}" if token else self.plain

    @cached_property
    def _json(self) -> tuple[bytes, bytes, bytes]:
        return json_chars(self.head), json_chars(self.tail), json_chars(self.plain)

    def render_json(self, recipient: Recipient, *, html: bool) -> bytes:
        head, tail, plain = self._json
        token = recipient.track_token
        return head + token.encode() + tail if token else plain


Slot = tuple[str, str] | WholeUrl | Tracked


@dataclass(frozen=True)
class CompiledTemplate:
    """Stage-1 output split into literal chunks and slots: (field, kind) pairs and whole URLs."""

    literals: tuple[str, ...]
    slots: tuple[Slot, ...]

    @classmethod
    def compile(cls, template: str, nonce: str) -> CompiledTemplate:
        parts = pattern(nonce).split(template)
        # split() alternates literal, kind, name, literal, kind, name, …, literal
        pairs = [(name, kind) for kind, name in zip(parts[1::3], parts[2::3], strict=True)]
        for name, kind in pairs:
            if kind == TRACKED:
                if name not in TRACK_MARKERS:
                    raise RenderError(f"unknown tracking marker {name!r}")
            elif not name.startswith(ATTRIBUTE_PREFIX) and name not in PERSONAL_FIELDS:
                raise RenderError(f"unknown personal field {name!r}")
        return cls._assemble(parts[0::3], pairs)

    @classmethod
    def _assemble(cls, chunks: list[str], pairs: list[tuple[str, str]]) -> CompiledTemplate:
        literals, slots = [chunks[0]], list[Slot]()
        index = 0
        while index < len(pairs):
            name, kind = pairs[index]
            if kind == TRACKED:
                if pairs[index : index + 4] != [(marker, TRACKED) for marker in TRACK_MARKERS]:
                    raise RenderError("a tracked link whose markers are incomplete or out of order")
                slots.append(Tracked(head=chunks[index + 1], tail=chunks[index + 2], plain=chunks[index + 3]))
                literals.append(chunks[index + 4])
                index += 4
                continue
            if kind != WHOLE_URL:
                slots.append((name, kind))
                literals.append(chunks[index + 1])
                index += 1
                continue
            opening = _OPENING.search(literals[-1])
            if opening is None:
                raise RenderError(f"a whole-URL field {name!r} outside an href, src or link")
            literals[-1] = literals[-1][: opening.start()]
            closing = _CLOSING[opening.group(1) or opening.group(2)]
            end = next((at for at in range(index + 1, len(pairs) + 1) if closing in chunks[at]), None)
            inner = pairs[index + 1 : end]
            if end is None or any(kind != URL_PART for _, kind in inner):
                raise RenderError(f"the URL of the whole-URL field {name!r} is not closed or holds another whole field")
            cut = chunks[end].index(closing) + 1
            rest = cls(literals=(*chunks[index + 1 : end], chunks[end][:cut]), slots=tuple(inner))
            slots.append(WholeUrl(name=name, opening=opening.group(0), rest=rest))
            literals.append(chunks[end][cut:])
            index = end
        return cls(literals=tuple(literals), slots=tuple(slots))

    @property
    def fields(self) -> set[str]:
        names: set[str] = set()
        for slot in self.slots:
            if isinstance(slot, WholeUrl):
                names |= {slot.name} | slot.rest.fields
            else:
                names.add(TRACK_FIELD if isinstance(slot, Tracked) else slot[0])
        return names

    def render(self, recipient: Recipient, *, html: bool) -> str:
        out = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            if isinstance(slot, tuple):
                out.append(encode(recipient.field(slot[0]), slot[1], html=html))
            else:
                out.append(slot.render(recipient, html=html))
            out.append(literal)
        return "".join(out)

    @cached_property
    def _json_literals(self) -> tuple[bytes, ...]:
        return tuple(json_chars(literal) for literal in self.literals)

    def render_json(self, recipient: Recipient, *, html: bool) -> JsonText:
        """``render`` written as a JSON string; orjson.JSONEncodeError for a value JSON cannot carry."""
        literals = self._json_literals
        out = [b'"', literals[0]]
        for slot, literal in zip(self.slots, literals[1:], strict=True):
            if isinstance(slot, tuple):
                out.append(json_chars(encode(recipient.field(slot[0]), slot[1], html=html)))
            else:
                out.append(slot.render_json(recipient, html=html))
            out.append(literal)
        out.append(b'"')
        return JsonText(out)


def json_chars(value: str) -> bytes:
    """A string's characters as they stand inside a JSON string (escaped, UTF-8), without the quotes.

    orjson.JSONEncodeError for a string JSON cannot carry (a lone surrogate).
    """
    return orjson.dumps(value)[1:-1]
