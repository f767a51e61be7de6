"""Stage 2 of the render: fill one recipient's fields into the stage-1 output.

Stage 1 leaves a placeholder wherever a personal field goes. Placeholders are
made only of letters and digits, so premailer's serializer (which
percent-encodes ``{{ … }}`` inside href) leaves them intact, and they carry a
nonce chosen per render, so recap content cannot forge one.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass

from markupsafe import Markup

from publisher.errors import RenderError

#: Fields stage 2 fills per recipient. URL fields are built by us from signed
#: tokens; the others are subscriber data and are HTML-escaped in the HTML part.
PERSONAL_FIELDS = ("first_name", "last_name", "full_name", "greeting_name", "email", "unsubscribe_url", "view_url")


def new_nonce() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Recipient:
    """The personal values of one recipient."""

    email: str
    first_name: str
    last_name: str
    unsubscribe_url: str
    view_url: str

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def greeting_name(self) -> str:
        return self.first_name or "there"

    def field(self, name: str) -> str:
        if name not in PERSONAL_FIELDS:
            raise RenderError(f"unknown personal field {name!r}")
        return str(getattr(self, name))


class PlaceholderFields:
    """What the layout sees as ``personal``: each field renders as its placeholder."""

    def __init__(self, nonce: str) -> None:
        self._nonce = nonce

    def __getattr__(self, name: str) -> Markup:
        if name.startswith("_") or name not in PERSONAL_FIELDS:
            raise AttributeError(f"no personal field {name!r}; known: {', '.join(PERSONAL_FIELDS)}")
        return Markup(placeholder(self._nonce, name))  # noqa: S704 (letters and digits only)


class ValueFields:
    """What the layout sees as ``personal`` in a one-pass render: the real values."""

    def __init__(self, recipient: Recipient) -> None:
        self._recipient = recipient

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._recipient.field(name)
        except RenderError as exc:
            raise AttributeError(str(exc)) from None


def placeholder(nonce: str, name: str) -> str:
    return f"NL{nonce}X{name}X"


def _pattern(nonce: str) -> re.Pattern[str]:
    return re.compile(f"NL{re.escape(nonce)}X([a-z_]+)X")


def fill(template: str, nonce: str, recipient: Recipient, *, escape: bool) -> str:
    """Replace every placeholder in ``template``; HTML-escape values when ``escape``."""

    def value(match: re.Match[str]) -> str:
        text = recipient.field(match.group(1))
        return html.escape(text, quote=True) if escape else text

    return _pattern(nonce).sub(value, template)
