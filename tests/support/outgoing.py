"""Outgoing emails for the provider tests, and what the fake provider says each recipient received."""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cache

from publisher.content.recap import load_recap
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import IssueFrame, render_issue
from publisher.content.rendering.personalize import Recipient
from publisher.core.message import OutgoingEmail
from tests.fakes.server import FakeProviders
from tests.support.recaps import RECAP

NAMES = ["Ann", "Bartholomew", "Zoë", "O'Neil & <Sons>", "", "Li"]


def emails(count: int) -> list[OutgoingEmail]:
    """Small plain emails to person0@example.com, person1@example.com, …"""
    return [
        OutgoingEmail(
            delivery_id=index + 1,
            campaign_id=9,
            message_id=f"m{index}@modu.example",
            sender="Modu Events <events@modu.example>",
            to_address=f"person{index}@example.com",
            to_name=f"Person {index}",
            subject="Subject",
            html="<p>Hello</p>",
            text="Hello\n",
            unsubscribe_url=f"https://news.example/unsubscribe/t{index}",
        )
        for index in range(count)
    ]


@cache
def issue() -> RenderedIssue:
    return render_issue(load_recap(RECAP), IssueFrame("attendees", "1 Test Street, London"))


def personalised(count: int, campaign_id: int = 9) -> list[OutgoingEmail]:
    """Emails as the delivery engine makes them: one stage-1 render, personalised per recipient."""
    emails = []
    for index in range(count):
        token = hashlib.sha256(f"{campaign_id}-{index}".encode()).hexdigest()[:32]
        recipient = Recipient(
            email=f"person{index}@example.com",
            first_name=NAMES[index % len(NAMES)],
            last_name="",
            unsubscribe_url=f"https://news.example/unsubscribe/{token}",
            view_url=f"https://news.example/view/{token[::-1]}",
        )
        html, text = issue().personalise(recipient)
        # delivery_id, campaign_id, message_id, sender, to_address, to_name
        head = (index + 1, campaign_id, f"{token}@modu.example", "Modu Events <events@modu.example>", recipient.email, recipient.full_name)
        emails.append(OutgoingEmail(*head, subject="Flow", html=html, text=text, unsubscribe_url=recipient.unsubscribe_url))
    return emails


def received(fake: FakeProviders, provider: str) -> dict[str, dict[str, object]]:
    """What each recipient got, by address; fails if anyone got two messages."""
    messages = [a for a in fake.accepted if a.provider == provider]
    assert len({a.to for a in messages}) == len(messages), "a recipient got more than one message"
    return {a.to: a.raw for a in messages}


def assert_each_got_their_own(fake: FakeProviders, provider: str, emails: list[OutgoingEmail]) -> None:
    got = received(fake, provider)
    assert set(got) == {email.to_address for email in emails}
    for email in emails:
        message, headers = got[email.to_address], got[email.to_address]["headers"]
        assert (message["html"], message["text"]) == (email.html, email.text)
        assert isinstance(headers, dict)
        assert headers["List-Unsubscribe"] == f"<{email.unsubscribe_url}>"
        assert (headers["List-Unsubscribe-Post"], headers["Message-ID"]) == ("List-Unsubscribe=One-Click", f"<{email.message_id}>")


def varied(batch: list[OutgoingEmail]) -> list[OutgoingEmail]:
    """``batch`` with its last two emails changed: one with a Reply-To, then a test send with extra headers and a non-ASCII name."""
    *plain, replied, test = batch
    return [
        *plain,
        dataclasses.replace(replied, reply_to="Replies <replies@modu.example>"),
        dataclasses.replace(test, is_test=True, to_name="Zoë Ünal", extra_headers={"X-Entity-Ref-ID": f"9-{len(batch)}"}),
    ]
