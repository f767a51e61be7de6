"""Address headers that read back as exactly the one address they were built from.

Python 3.11's header folding drops the quotes around a long display name that
contains ``"``; a folded To header then reads as two addresses (``Doe, "John"
…`` is ``Doe`` and a second mailbox). So a display name that is more than
plain words is written as RFC 2047 encoded words, whose alphabet has no quote,
comma, ``<`` or ``@`` for a parser to trip on, and the MIME header is folded
here, between whole words, never by the policy.

The domain goes out in its IDNA (punycode) form, which every provider and MTA
reads; a non-ASCII local part cannot be written at all without SMTPUTF8, which
not every provider offers, so it is refused (docs/providers.md).
"""

from __future__ import annotations

import functools
import re
from email.header import Header
from email.headerregistry import Address
from email.policy import default

import idna

from publisher.core.errors import ConfigurationError, RenderError
from publisher.core.text_rules import describe_character, first_control_character

#: A word of a display name sent as it is: letters, digits, ``'`` and ``-``, short enough to sit on a folded line.
PLAIN_WORD = re.compile(r"[A-Za-z0-9'-]+")
PLAIN_WORD_LIMIT = 60
#: An ASCII address whose local part and domain are dot-atoms (RFC 5322 3.2.3): already its own wire form.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
DOT_ATOM_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")
#: Longest folded line of an address header besides its name (``Reply-To: ``), within RFC 5322's 78.
FOLDED_LINE_LIMIT = 66


class AddressError(RenderError, ValueError):
    """The address cannot be written in a message header; the reason says why."""


class SenderError(ConfigurationError):
    """The configured sender (From, Reply-To) cannot be written in a message header.

    Deliberately not an ``AddressError``: the sender is no record's fault, so
    it must never fail a record the way a recipient's bad address does.
    """


def checked_name(name: str) -> str:
    """The display name, refused when it holds a character no header may carry."""
    if found := first_control_character(name):
        raise AddressError(f"the display name contains {describe_character(found)}")
    return name


def ascii_address(address: str) -> str:
    """The address as it goes on the wire: ASCII local part, domain in punycode."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{address!r} is not an email address")
    if not local.isascii():
        raise AddressError(
            f"{address!r}: the part before the @ is not ASCII; sending to it needs SMTPUTF8, which not every provider offers"
        )
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(f"{address!r}: the domain has no IDNA form ({exc})") from exc
    wire = f"{local}@{domain}"
    if DOT_ATOM_ADDRESS.fullmatch(wire):
        # Nearly every address: the parser below would return it unchanged, at
        # about 25 µs a recipient.
        return wire
    try:
        return Address(addr_spec=wire).addr_spec
    except (ValueError, IndexError) as exc:  # the parser's own errors for a malformed addr-spec
        raise AddressError(f"{address!r} is not an email address ({exc})") from exc


def _tokens(name: str, address: str) -> list[str]:
    """The header's words: the display name (plain words and encoded words), then ``<address>``."""
    wire = ascii_address(address)
    if not name:
        return [wire]
    return [*_name_words(checked_name(name)), f"<{wire}>"]


def _name_words(name: str) -> list[str]:
    """Plain words stay plain; each run of other words becomes encoded words.

    Between an encoded word and a plain one the space is kept by every
    reader; between two encoded words RFC 2047 drops it, which Python's own
    phrase parser does not. Runs are therefore as long as the name allows:
    only a run longer than one encoded word ends up as two adjacent ones.
    """
    if "" in name.split(" "):
        return _encoded(name)  # leading, trailing or repeated spaces: one run keeps them exactly
    words: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if len(word) <= PLAIN_WORD_LIMIT and PLAIN_WORD.fullmatch(word):
            words += _encoded(" ".join(run)) if run else []
            words.append(word)
            run = []
        else:
            run.append(word)
    return words + (_encoded(" ".join(run)) if run else [])


def _encoded(text: str) -> list[str]:
    return list(_encoded_words(text))


# A worker writes a To header per recipient, and encoding a word costs about
# 10 µs; names repeat (first names most of all), so their words are kept.
@functools.lru_cache(maxsize=4096)
def _encoded_words(text: str) -> tuple[str, ...]:
    # Header picks the shorter of Q and B per word and never splits a character;
    # Q in a phrase keeps only letters, digits and -!*+/ (RFC 2047 section 5).
    # 74 keeps every word within the 75 characters RFC 2047 allows; the
    # header name leaves room for the longest name before the first one.
    return tuple(Header(text, "utf-8", header_name="Reply-To").encode(linesep="\n", maxlinelen=74).split())


def format_address(name: str, address: str) -> str:
    """One mailbox as a single line of ASCII, for a provider's API field or a header value."""
    return " ".join(_tokens(name, address))


def folded_address(name: str, address: str) -> str:
    """The same mailbox folded between whole words, for ``Message.set_raw`` under a policy that never refolds."""
    lines: list[str] = []
    for token in _tokens(name, address):
        if lines and len(lines[-1]) + 1 + len(token) <= FOLDED_LINE_LIMIT:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return "\n ".join(lines)


def parse_mailbox(value: str) -> tuple[str, str]:
    """The display name and address of a configured mailbox (``Name <address>``); exactly one is allowed."""
    if found := first_control_character(value):
        # The parser reads ``a <b@c>\r\nBcc: d@e`` as one mailbox and drops the rest without a word.
        raise AddressError(f"{value!r} must be exactly one address on one line; it contains {describe_character(found)}")
    try:
        mailboxes = default.header_factory("From", value).addresses
    except (ValueError, IndexError) as exc:
        raise AddressError(f"{value!r} is not a mailbox ({exc})") from exc
    if len(mailboxes) != 1 or not mailboxes[0].addr_spec or "@" not in mailboxes[0].addr_spec:
        raise AddressError(f'{value!r} must be exactly one address (a display name with a comma goes in quotes: "Name, Inc" <address>)')
    return mailboxes[0].display_name, mailboxes[0].addr_spec


def sender_mailbox(value: str) -> tuple[str, str]:
    """The display name and wire address of a configured sender (From, Reply-To), built as every provider builds it.

    The settings check ``NEWSLETTER_FROM`` and ``NEWSLETTER_REPLY_TO`` with it
    when they load, so a value no message can carry stops the process at
    start instead of reaching a worker.
    """
    name, address = parse_mailbox(value)
    format_address(name, address)
    return name, ascii_address(address)
