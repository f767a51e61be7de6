"""SendGrid: spoken to over real HTTP (the fake provider), with real personalised bodies from the renderer."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.core.errors import PermanentDeliveryError
from publisher.core.outcomes import Outcome
from publisher.core.signals import Halt
from tests.fakes.sendgrid import API_KEY
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.outgoing import assert_each_got_their_own, personalised
from tests.support.providers import SENDGRID
from workers.providers.factoring import factor

NAMES = ["Ann", "Bartholomew", "Zoë", "O'Neil & <Sons>", "", "Li"]


def test_a_batch_goes_in_one_call_and_each_recipient_gets_their_own_body(fake_provider: FakeProviders) -> None:
    batch = personalised(6)
    results = SENDGRID.build(fake_provider, sendgrid_asm_group_id=42).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 6
    (call,) = fake_provider.calls_to("sendgrid")
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert len({r.provider_message_id for r in results}) == 1 and results[0].provider_message_id
    payload = call.json()
    assert [part["type"] for part in payload["content"]] == ["text/plain", "text/html"]
    assert payload["asm"] == {"group_id": 42}
    assert payload["from"] == {"email": "events@modu.example", "name": "Modu Events"}
    people = payload["personalizations"]
    assert [p["custom_args"]["delivery_id"] for p in people] == ["1", "2", "3", "4", "5", "6"]
    assert people[2]["to"] == [{"email": "person2@example.com", "name": "Zoë"}]
    assert people[4]["to"] == [{"email": "person4@example.com"}]
    assert all(sum(len(k) + len(v) for k, v in p["substitutions"].items()) < 500 for p in people)
    # One shared body plus small parts, not six bodies.
    assert len(call.body) < 2 * (len(batch[0].html) + len(batch[0].text))
    assert_each_got_their_own(fake_provider, "sendgrid", batch)


def test_names_with_commas_or_semicolons_are_quoted(fake_provider: FakeProviders) -> None:
    batch = [dataclasses.replace(email, to_name=name) for email, name in zip(personalised(2), ["Smith, Ann", "Li; Wei"], strict=True)]
    batch = [dataclasses.replace(email, sender='"Modu, Events" <events@modu.example>') for email in batch]
    assert [r.outcome for r in SENDGRID.build(fake_provider).send(batch)] == [Outcome.ACCEPTED] * 2
    payload = fake_provider.calls_to("sendgrid")[0].json()
    assert [p["to"][0]["name"] for p in payload["personalizations"]] == ['"Smith, Ann"', '"Li; Wei"']
    assert payload["from"] == {"email": "events@modu.example", "name": '"Modu, Events"'}


def test_bodies_with_nothing_in_common_go_in_separate_calls(fake_provider: FakeProviders) -> None:
    rng = random.Random(7)
    batch = [
        dataclasses.replace(email, html="".join(rng.choices(string.ascii_letters, k=12_000)), text=f"text {index}")
        for index, email in enumerate(personalised(3))
    ]
    results = SENDGRID.build(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert len(fake_provider.calls_to("sendgrid")) == 3
    assert_each_got_their_own(fake_provider, "sendgrid", batch)


def test_another_reply_to_goes_in_its_own_call(fake_provider: FakeProviders) -> None:
    batch = personalised(3)
    batch[1] = dataclasses.replace(batch[1], reply_to="Replies <replies@modu.example>")
    results = SENDGRID.build(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    calls = [call.json() for call in fake_provider.calls_to("sendgrid")]
    assert [len(c["personalizations"]) for c in calls] == [2, 1]
    assert calls[1]["reply_to"] == {"email": "replies@modu.example", "name": "Replies"}
    assert_each_got_their_own(fake_provider, "sendgrid", batch)


def test_a_refused_recipient_fails_alone_and_the_others_are_held_back(fake_provider: FakeProviders) -> None:
    fake_provider.faults.reject["person1@example.com"] = (400, "Does not contain a valid address.")
    batch = personalised(3)
    provider = SENDGRID.build(fake_provider)
    results = provider.send(batch)
    assert [r.outcome for r in results] == [Outcome.TRANSIENT, Outcome.PERMANENT, Outcome.TRANSIENT]
    assert "personalizations.1.to.0.email: Does not contain a valid address." in (results[1].error or "")
    assert "other recipients" in (results[0].error or "")
    assert fake_provider.accepted == []
    retried = provider.send([batch[0], batch[2]])
    assert [r.outcome for r in retried] == [Outcome.ACCEPTED] * 2


@pytest.mark.parametrize(
    ("answer", "outcome", "kept"),
    [
        (CannedAnswer(400, '{"errors": [{"field": "from.email", "message": "The from address does not match a verified Sender"}]}'),
         Outcome.PERMANENT, "from.email: The from address does not match a verified Sender"),
        (CannedAnswer(413, '{"errors": [{"field": null, "message": "content too large"}]}'), Outcome.PERMANENT, "content too large"),
        (CannedAnswer(404, '{"errors": [{"field": null, "message": "not found"}]}'), Outcome.PERMANENT, "not found"),
        (CannedAnswer(500, '{"errors": [{"message": "internal server error"}]}'), Outcome.TRANSIENT, "internal server error"),
        (CannedAnswer(503, "Service Unavailable", {"Content-Type": "text/plain"}), Outcome.TRANSIENT, "503"),
        (CannedAnswer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
         Outcome.TRANSIENT, "502 Bad Gateway"),
        (CannedAnswer(200, "<html>garbage</html>", {"Content-Type": "text/html"}), Outcome.TRANSIENT, "SendGrid accepts with 202"),
    ],
)  # fmt: skip
def test_whole_call_answers(fake_provider: FakeProviders, answer: CannedAnswer, outcome: Outcome, kept: str) -> None:
    fake_provider.faults.canned.append(answer)
    results = SENDGRID.build(fake_provider).send(personalised(2))
    assert [r.outcome for r in results] == [outcome, outcome]
    assert kept in (results[0].error or "")
    assert results[0].halt is None


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_halt_and_keep_the_records_open(fake_provider: FakeProviders, status: int) -> None:
    if status == 403:
        fake_provider.faults.canned.append(CannedAnswer(403, '{"errors": [{"field": null, "message": "access forbidden"}]}'))
    provider = SENDGRID.build(fake_provider, sendgrid_api_key="SG.wrong" if status == 401 else API_KEY)
    results = provider.send(personalised(2))
    assert [(r.outcome, r.halt) for r in results] == [(Outcome.TRANSIENT, Halt.CREDENTIALS)] * 2
    assert "credentials rejected" in (results[0].error or "")


@pytest.mark.timing
def test_429_carries_retry_after_and_the_rate_limit(fake_provider: FakeProviders) -> None:
    reset = int(time.time()) + 30
    headers = {"Retry-After": "17", "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    fake_provider.faults.canned.append(CannedAnswer(429, '{"errors": [{"field": null, "message": "too many requests"}]}', headers))
    (result,) = SENDGRID.build(fake_provider).send(personalised(1))
    assert (result.outcome, result.retry_after) == (Outcome.TRANSIENT, 17)
    assert result.rate_limit is not None
    assert (result.rate_limit.limit, result.rate_limit.remaining) == (600, 0)
    assert 25 <= (result.rate_limit.reset_after or 0) <= 30


@pytest.mark.timing
def test_429_without_retry_after_waits_for_the_rate_limit_reset(fake_provider: FakeProviders) -> None:
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 40)}
    fake_provider.faults.canned.append(CannedAnswer(429, '{"errors": [{"message": "too many requests"}]}', headers))
    (result,) = SENDGRID.build(fake_provider).send(personalised(1))
    assert result.outcome == Outcome.TRANSIENT
    assert 35 <= (result.retry_after or 0) <= 40


def test_a_202_passes_its_rate_limit_on_and_is_accepted_even_without_a_message_id(fake_provider: FakeProviders) -> None:
    headers = {"X-Message-Id": "abc", "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599", "X-RateLimit-Reset": "60"}
    fake_provider.faults.canned += [CannedAnswer(202, "", headers), CannedAnswer(202, "")]
    provider = SENDGRID.build(fake_provider)
    (result,), (bare,) = provider.send(personalised(1)), provider.send(personalised(1))
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "abc")
    assert result.rate_limit is not None and result.rate_limit.remaining == 599
    assert (bare.outcome, bare.provider_message_id, bare.rate_limit) == (Outcome.ACCEPTED, None, None)


def test_check_fails_on_a_missing_scope(fake_provider: FakeProviders) -> None:
    fake_provider.faults.canned.append(CannedAnswer(200, json.dumps({"scopes": ["stats.read"]})))
    with pytest.raises(PermanentDeliveryError, match=r"lacks the mail\.send scope"):
        SENDGRID.build(fake_provider).check()


@given(st.lists(st.text(max_size=300), min_size=1, max_size=6))
def test_factoring_rebuilds_any_texts_exactly(texts: list[str]) -> None:
    template = factor(texts)
    assert [template.join(list(parts)) for parts in template.parts] == texts


def test_factoring_rendered_bodies_leaves_only_the_personal_parts() -> None:
    batch = personalised(12)
    template = factor([email.html for email in batch])
    assert [template.join(list(parts)) for parts in template.parts] == [email.html for email in batch]
    assert template.slots <= 4
    assert max(sum(len(part) for part in parts) for parts in template.parts) < 200
