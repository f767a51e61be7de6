"""The MIME message: multipart/alternative, text first, unsubscribe headers, no header injection."""

from __future__ import annotations

import email
import email.policy

import pytest

from workers.message import ONE_CLICK, OutgoingEmail


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
