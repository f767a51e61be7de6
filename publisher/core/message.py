"""One outgoing email, independent of the provider that carries it.

HTTP providers take its parts as JSON fields; the outbox and SMTP take it as a
MIME message. Python's email package refuses CR/LF in header values, which is
what stops header injection through a subject or a subscriber's name. The
address headers (From, To, Reply-To) are written by ``publisher.core.addresses`` so
that each reads back as exactly its one address, whatever the display name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import orjson

from publisher.core.addresses import AddressError, SenderError, ascii_address, folded_address, format_address, sender_mailbox
from publisher.core.clock import utcnow

ONE_CLICK = "List-Unsubscribe=One-Click"
#: Address headers are folded by ``publisher.core.addresses`` and set raw: the policy must not fold them again.
MIME_POLICY = SMTP.clone(refold_source="none")


class JsonText:
    """A text written as a JSON string (quotes included), in pieces: joined once, where the message is written."""

    __slots__ = ("length", "pieces")

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.length = sum(map(len, pieces))

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonText) and bytes(self) == bytes(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonText({bytes(self)!r})"

    def text(self) -> str:
        return str(orjson.loads(bytes(self)))


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int
    campaign_id: int
    message_id: str
    sender: str
    to_address: str
    to_name: str
    subject: str
    html: str
    text: str
    unsubscribe_url: str
    reply_to: str | None = None
    is_test: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: The provider's own JSON object for this message, written as soon as it was built
    #: (``Provider.keep``); ``html`` and ``text`` are then empty, so a batch does not hold them.
    encoded: bytes | None = field(default=None, compare=False, repr=False)
    #: The HTML and text bodies as JSON strings, for a provider that writes JSON
    #: (``Provider.json_bodies``); ``html`` and ``text`` are then empty.
    json_bodies: tuple[JsonText, JsonText] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The wire form whoever builds the email (punycode domain): providers key
        # recipients by it, and an address no provider takes fails here, alone.
        object.__setattr__(self, "to_address", ascii_address(self.to_address))

    @property
    def recipient(self) -> str:
        """The To mailbox on one line of ASCII: encoded-word display name, punycode domain."""
        return format_address(self.to_name, self.to_address)

    @property
    def from_mailbox(self) -> tuple[str, str]:
        """The From display name and wire address; SenderError when they cannot be written."""
        return _sender(self.sender, "NEWSLETTER_FROM")

    @property
    def reply_to_mailbox(self) -> tuple[str, str] | None:
        return _sender(self.reply_to, "NEWSLETTER_REPLY_TO") if self.reply_to else None

    @property
    def from_header(self) -> str:
        """The From mailbox, written as ``recipient`` is."""
        return _sender_header(self.sender, "NEWSLETTER_FROM")

    @property
    def reply_to_header(self) -> str | None:
        return _sender_header(self.reply_to, "NEWSLETTER_REPLY_TO") if self.reply_to else None

    def headers(self) -> dict[str, str]:
        """Headers every provider must send besides From, To and Subject."""
        headers = {"Message-ID": f"<{self.message_id}>"}
        # A note to the console's people is on no list: there is nothing to leave.
        if self.unsubscribe_url:
            headers |= {"List-Unsubscribe": f"<{self.unsubscribe_url}>", "List-Unsubscribe-Post": ONE_CLICK}
        headers["X-Newsletter-Campaign"] = str(self.campaign_id)
        if self.is_test:
            headers["X-Newsletter-Test"] = "yes"
        headers.update(self.extra_headers)
        return headers

    def bodies(self) -> tuple[str, str]:
        """The HTML and text bodies, read back from their JSON when the email carries them so."""
        if self.json_bodies is None:
            return self.html, self.text
        html, text = self.json_bodies
        return html.text(), text.text()

    def kept_as(self, encoded: bytes) -> OutgoingEmail:
        """This email without its bodies, carrying the provider's JSON object for it instead."""
        # A shallow copy, not dataclasses.replace: the address is already in its wire form.
        # Made by hand: copy.copy goes through __reduce_ex__, three times the cost.
        kept = object.__new__(OutgoingEmail)
        kept.__dict__.update(self.__dict__, html="", text="", json_bodies=None, encoded=encoded)
        return kept

    def to_mime(self) -> EmailMessage:
        """Build multipart/alternative with the text part first, as RFC 2046 orders them."""
        message = EmailMessage(policy=MIME_POLICY)
        message.set_raw("From", folded_address(*self.from_mailbox))
        message.set_raw("To", folded_address(self.to_name, self.to_address))
        message["Subject"] = self.subject
        message["Date"] = format_datetime(utcnow())
        if reply_to := self.reply_to_mailbox:
            message.set_raw("Reply-To", folded_address(*reply_to))
        for name, value in self.headers().items():
            message[name] = value
        html, text = self.bodies()
        message.set_content(text, subtype="plain", charset="utf-8")
        message.add_alternative(html, subtype="html", charset="utf-8")
        return message


# The sender is one setting for every email, and parsing a mailbox costs about
# 0.2 ms: once per value, not once per recipient. Failures are not cached
# (lru_cache keeps only what returns), so they raise every time.
@functools.lru_cache(maxsize=16)
def _sender(value: str, variable: str) -> tuple[str, str]:
    try:
        return sender_mailbox(value)
    except AddressError as exc:
        # The settings refuse such a value when they load; one that got past
        # them (settings built in-process) halts the campaign, it fails no record.
        raise SenderError(f"{variable} cannot go in a message: {exc}") from exc


@functools.lru_cache(maxsize=16)
def _sender_header(value: str, variable: str) -> str:
    return format_address(*_sender(value, variable))
