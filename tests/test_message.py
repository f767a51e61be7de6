"""The MIME message: multipart/alternative, text first, unsubscribe headers, no header injection."""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.utils import formataddr, getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from publisher.core.message import ONE_CLICK, OutgoingEmail


def outgoing(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "delivery_id": 7,
        "campaign_id": 3,
        "message_id": "abc123@modu.example",
        "sender": "Modu Events <events@modu.example>",
        "to_address": "zoe@example.com",
        "to_name": "Zoë O'Brien",
        "subject": "Product vs Tech: what we learned",
        "html": "<!DOCTYPE html><html><body><p>Hi Zoë</p></body></html>",
        "text": "Hi Zoë\n",
        "unsubscribe_url": "https://news.example/unsubscribe/tok",
    }
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_message_is_multipart_alternative_with_text_first() -> None:
    message = parse(outgoing().to_mime().as_bytes())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert "Hi Zoë" in parts[0].get_content()
    assert "<p>Hi Zoë</p>" in parts[1].get_content()


def test_message_carries_both_unsubscribe_headers_message_id_and_date() -> None:
    message = parse(outgoing().to_mime().as_bytes())
    assert message["List-Unsubscribe"] == "<https://news.example/unsubscribe/tok>"
    assert message["List-Unsubscribe-Post"] == ONE_CLICK
    assert message["Message-ID"] == "<abc123@modu.example>"
    assert message["Date"]
    assert message["To"].addresses[0].display_name == "Zoë O'Brien"


def test_long_lines_are_encoded_below_the_rfc_limit() -> None:
    raw = outgoing(html="<p>" + "x" * 5000 + "</p>").to_mime().as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "field",
    [{"subject": "Hello\r\nBcc: victim@example.com"}, {"to_name": "Eve\r\nBcc: victim@example.com"}],
)
def test_header_injection_is_refused(field: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r".+"):
        outgoing(**field).to_mime().as_bytes()


def test_test_sends_are_marked() -> None:
    message = parse(outgoing(is_test=True).to_mime().as_bytes())
    assert message["X-Newsletter-Test"] == "yes"


def test_non_ascii_subject_and_names_are_encoded_per_rfc_2047() -> None:
    raw = outgoing(subject="Café notes — Zoë's pick", to_name="Zoë O'Brien").to_mime().as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()
    assert b"Subject: =?utf-8?" in headers
    assert b"To: =?utf-8?" in headers
    message = parse(raw)
    assert message["Subject"] == "Café notes — Zoë's pick"


def test_message_id_is_on_the_sending_domain() -> None:
    assert parse(outgoing().to_mime().as_bytes())["Message-ID"].endswith("@modu.example>")


def test_unsubscribe_url_appears_unbroken_in_the_text_part() -> None:
    url = "https://news.example/unsubscribe/" + "x" * 120
    message = parse(outgoing(unsubscribe_url=url, text=f"Hi\n\nUnsubscribe: {url}\n").to_mime().as_bytes())
    text = next(message.iter_parts()).get_content()
    assert url in text


# --- Address headers: each reads back as exactly its one address -----------------------------------

HOSTILE_NAMES = [
    'Doe, "John" ' + "x" * 80,  # long enough to fold: Python 3.11 dropped the quotes, leaving "Doe" as an address
    '"a, b" ' + "long " * 20,
    'a"b,c<d@e> ' * 10,
    '"' * 200,
    "x" * 200,
    "é" * 200,
    '用户 "名" <evil@example.com>, other@example.com',
    'Ünïcode, "quoted" name, with a comma',
    "=?utf-8?q?forged_encoded_word?=",
    "Mallory <mallory@evil.example>",
    "@, ; : \\ ( ) [ ] .",
    " leading and trailing ",
    "two  spaces",
    "Zoë O'Brien",
]


def assert_one_mailbox(raw: bytes, header: str, name: str, address: str) -> None:
    """The header reads as exactly ``name <address>`` to the default-policy parser and to ``getaddresses``."""
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and max(len(line) for line in headers.split(b"\r\n")) <= 78
    folded = email.message_from_bytes(raw, policy=email.policy.compat32)[header]
    assert all(len(word) <= 75 for word in folded.split() if word.startswith("=?"))  # RFC 2047's limit
    assert [(str(make_header(decode_header(n))), a) for n, a in getaddresses([folded])] == [(name, address)]
    [parsed] = parse(raw)[header].addresses
    assert parsed.addr_spec == address
    if folded.count("=?") <= 1 and "  " not in name:
        assert parsed.display_name == name
    else:
        # Python 3.11's phrase parser keeps the folding space between two
        # adjacent encoded words, which RFC 2047 (section 6.2) drops, and
        # collapses runs of spaces inside one: getaddresses above is exact.
        assert parsed.display_name.replace(" ", "") == name.replace(" ", "")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_display_name_leaves_the_to_header_one_address(name: str) -> None:
    assert_one_mailbox(outgoing(to_name=name).to_mime().as_bytes(), "To", name, "zoe@example.com")


@given(name=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_display_name_leaves_the_to_header_one_address(name: str) -> None:
    assert_one_mailbox(outgoing(to_name=name).to_mime().as_bytes(), "To", name, "zoe@example.com")


# A configured value is a header: an encoded word in it is decoded, so none is tested here.
@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n.isascii() and n.strip() == n and "  " not in n and "=?" not in n])
def test_from_and_reply_to_with_hostile_names_stay_one_address(name: str) -> None:
    configured = formataddr((name, "events@modu.example"))
    raw = outgoing(sender=configured, reply_to=formataddr((name, "replies@modu.example"))).to_mime().as_bytes()
    assert_one_mailbox(raw, "From", name, "events@modu.example")
    assert_one_mailbox(raw, "Reply-To", name, "replies@modu.example")


def test_a_non_ascii_domain_goes_out_in_punycode_not_as_an_encoded_word() -> None:
    sent = outgoing(to_address="user@bücher.de", sender="Modu <events@bücher.de>", reply_to="replies@bücher.de")
    assert sent.to_address == "user@xn--bcher-kva.de"
    assert sent.recipient == "=?utf-8?q?Zo=C3=AB?= O'Brien <user@xn--bcher-kva.de>"
    raw = sent.to_mime().as_bytes()
    assert b"user@xn--bcher-kva.de" in raw and b"events@xn--bcher-kva.de" in raw and b"replies@xn--bcher-kva.de" in raw
    assert b"@=?" not in raw
    assert_one_mailbox(raw, "To", "Zoë O'Brien", "user@xn--bcher-kva.de")


def test_a_local_part_that_is_not_ascii_cannot_become_an_email() -> None:
    with pytest.raises(ValueError, match=r"before the @.*SMTPUTF8"):
        outgoing(to_address="用户@例子.广告")
