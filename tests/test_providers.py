"""Providers: the outbox writes files atomically; Postmark is spoken to over real HTTP (a local stand-in)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
from pathlib import Path

import pytest

from publisher.core.errors import ConfigurationError
from publisher.core.message import JsonText
from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from tests.fakes.postmark import TOKEN
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.outgoing import emails
from tests.support.providers import POSTMARK, every_http_provider
from workers.providers import available, provider_class
from workers.providers.outbox import OutboxProvider
from workers.providers.smtp import SmtpProvider


def test_registry_finds_each_provider_module() -> None:
    assert {"outbox", "postmark"} <= set(available())
    with pytest.raises(ConfigurationError, match="unknown provider 'pigeon'"):
        provider_class("pigeon")


def test_registry_lists_only_real_providers_not_their_shared_plumbing() -> None:
    # factoring, http and base are modules of the package that define no provider.
    assert available() == ["mailgun", "outbox", "postmark", "resend", "sendgrid", "ses", "smtp"]
    for name in ("factoring", "http", "base"):
        with pytest.raises(ConfigurationError, match=f"unknown provider '{name}'"):
            provider_class(name)


def test_outbox_writes_one_eml_per_recipient_and_rewrites_on_retry(tmp_path: Path) -> None:
    provider = OutboxProvider(Settings(outbox_dir=tmp_path / "out"))
    batch = emails(3)
    first = provider.send(batch)
    second = provider.send(batch)
    assert [r.outcome for r in first + second] == [Outcome.ACCEPTED] * 6
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["9-1.eml", "9-2.eml", "9-3.eml"]
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "Person 0 <person0@example.com>"


def test_outbox_that_cannot_write_reports_a_transient_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    results = OutboxProvider(Settings(outbox_dir=blocker / "out")).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "cannot write to outbox" in (results[0].error or "")


def test_postmark_sends_one_batch_call_on_the_broadcast_stream(fake_postmark: FakeProviders) -> None:
    results = POSTMARK.build(fake_postmark).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert all(r.provider_message_id for r in results)
    calls = fake_postmark.calls_to("postmark")
    assert len(calls) == 1
    headers, payload = calls[0].headers, calls[0].json()
    assert headers["x-postmark-server-token"] == TOKEN
    assert [m["MessageStream"] for m in payload] == ["broadcast"] * 3
    names = {h["Name"]: h["Value"] for h in payload[0]["Headers"]}
    assert names["List-Unsubscribe"] == "<https://news.example/unsubscribe/t0>"
    assert names["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert payload[0]["Metadata"]["delivery_id"] == "1"


def test_postmark_per_item_errors_inside_a_200_answer(fake_postmark: FakeProviders) -> None:
    fake_postmark.faults.reject["person1@example.com"] = (406, "You tried to send to recipient(s) that have been marked as inactive.")
    fake_postmark.faults.reject["person2@example.com"] = (100, "Maintenance")
    results = POSTMARK.build(fake_postmark).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.TRANSIENT]
    assert "406" in (results[1].error or "")


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (CannedAnswer(500, '{"ErrorCode": 1, "Message": "boom"}'), Outcome.TRANSIENT),
        (CannedAnswer(503, "Service Unavailable"), Outcome.TRANSIENT),
        (CannedAnswer(422, '{"ErrorCode": 300, "Message": "Invalid email request"}'), Outcome.PERMANENT),
        (CannedAnswer(200, "<html>garbage</html>"), Outcome.TRANSIENT),
        (CannedAnswer(200, "[]"), Outcome.TRANSIENT),
    ],
)
def test_postmark_whole_call_answers(fake_postmark: FakeProviders, answer: CannedAnswer, outcome: Outcome) -> None:
    fake_postmark.faults.canned.append(answer)
    results = POSTMARK.build(fake_postmark).send(emails(2))
    assert [r.outcome for r in results] == [outcome, outcome]
    assert results[0].error


def test_postmark_answer_with_a_byte_order_mark_is_read_as_accepted(fake_postmark: FakeProviders) -> None:
    """A UTF-8 BOM is legal before JSON; an accepted batch read as unreadable would be sent again."""
    answer = [{"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{k}", "To": f"person{k}@example.com"} for k in range(2)]
    fake_postmark.faults.canned.append(CannedAnswer(200, "\ufeff" + json.dumps(answer), {"Content-Type": "application/json"}))
    results = POSTMARK.build(fake_postmark).send(emails(2))
    assert [(r.outcome, r.provider_message_id) for r in results] == [(Outcome.ACCEPTED, "id-0"), (Outcome.ACCEPTED, "id-1")], results[
        0
    ].error


def test_postmark_429_carries_retry_after(fake_postmark: FakeProviders) -> None:
    fake_postmark.faults.canned.append(CannedAnswer(429, '{"ErrorCode": 429, "Message": "slow down"}', {"Retry-After": "17"}))
    results = POSTMARK.build(fake_postmark).send(emails(1))
    assert results[0].outcome == Outcome.TRANSIENT
    assert results[0].retry_after == 17


# --- Addresses on the wire ---------------------------------------------------------------------------


def test_every_provider_sends_an_international_domain_in_punycode(fake_provider: FakeProviders) -> None:
    batch = [
        dataclasses.replace(email, to_address=f"person{k}@bücher.de", sender="Modu Events <events@bücher.de>", reply_to="Ré <re@bücher.de>")
        for k, email in enumerate(emails(2))
    ]
    for provider in every_http_provider(fake_provider):
        assert [r.outcome for r in provider.send(batch)] == [Outcome.ACCEPTED] * 2, provider.name
        bodies = b"".join(call.body for call in fake_provider.calls_to(provider.name)).decode()
        assert "person0@xn--bcher-kva.de" in bodies and "events@xn--bcher-kva.de" in bodies, provider.name
        assert "bücher" not in bodies and "b\\u00fccher" not in bodies and "@=?" not in bodies, provider.name
    assert sorted(set(fake_provider.recipients())) == ["person0@xn--bcher-kva.de", "person1@xn--bcher-kva.de"]


def test_an_email_whose_payload_cannot_be_built_fails_alone_before_any_call(fake_provider: FakeProviders, tmp_path: Path) -> None:
    batch = emails(3)
    batch[1] = dataclasses.replace(batch[1], to_name="Eve\x0bBcc: victim@example.com")
    for provider in [*every_http_provider(fake_provider), OutboxProvider(Settings(outbox_dir=tmp_path / "out"))]:
        results = provider.send(batch)
        assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED], provider.name
        assert "control character" in (results[1].error or ""), provider.name
        assert not results[1].maybe_sent
        if provider.name != "outbox":
            bodies = b"".join(call.body for call in fake_provider.calls_to(provider.name))
            assert b"person0@" in bodies and b"person2@" in bodies and b"person1@" not in bodies, provider.name
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["9-1.eml", "9-3.eml"]


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [("sender", "a@x.com, b@y.com", "NEWSLETTER_FROM"), ("reply_to", "Support, Inc <s@x.com>", "NEWSLETTER_REPLY_TO")],
)
@pytest.mark.parametrize("bad_recipient", [False, True], ids=["", "with-a-bad-recipient"])
def test_a_sender_no_message_can_carry_halts_the_call_and_fails_no_record(
    fake_provider: FakeProviders, tmp_path: Path, field: str, value: str, variable: str, bad_recipient: bool
) -> None:
    # The sender comes from the settings, not from the records: no record may
    # fail for it. The results halt the campaign for an operator instead.
    batch = [dataclasses.replace(email, **{field: value}) for email in emails(3)]
    if bad_recipient:  # the batch cannot be built for a record's fault too: the sender still halts, it does not fail anyone
        batch[1] = dataclasses.replace(batch[1], to_name="Eve\x0bBcc: victim@example.com")
    nothing_listens = SmtpProvider(Settings(smtp_host="127.0.0.1", smtp_port=1, smtp_security="none"))
    for provider in [*every_http_provider(fake_provider), OutboxProvider(Settings(outbox_dir=tmp_path / "out")), nothing_listens]:
        results = provider.send(batch)
        assert [(r.outcome, r.halt) for r in results] == [(Outcome.TRANSIENT, Halt.SENDER)] * 3, provider.name
        assert all(r.error and r.error.startswith(f"{variable} ") and "exactly one" in r.error for r in results), provider.name
        assert not any(r.maybe_sent for r in results), provider.name
    assert fake_provider.calls == []
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_every_json_provider_sends_utf8_json_that_reads_back_as_written(fake_provider: FakeProviders) -> None:
    subject, body = "Zoë’s recap: 東京 ✓", "<p>Grüße, “friends” — 👋</p>"
    for provider in every_http_provider(fake_provider):
        if provider.name == "mailgun":
            continue  # a multipart form, not a JSON body
        email = dataclasses.replace(emails(1)[0], subject=subject, html=body)
        assert [r.outcome for r in provider.send([email])] == [Outcome.ACCEPTED], provider.name
        call = [call for call in fake_provider.calls_to(provider.name) if call.method == "POST"][-1]
        assert call.headers["content-type"] == "application/json", provider.name
        text = call.body.decode("utf-8")
        assert subject in text and body in text, provider.name  # UTF-8 as it is, not \\u escapes


def test_json_bodies_orjson_refuses_are_written_as_the_standard_library_writes_them() -> None:
    import json

    from workers.providers import http

    assert http.json_body({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
    for payload in (["lone \ud800 surrogate"], {"count": 2**70}):
        assert http.json_body(payload) == json.dumps(payload).encode()


def test_every_provider_sends_the_same_bytes_for_emails_kept_by_it_as_for_whole_ones(fake_provider: FakeProviders) -> None:
    batch = [dataclasses.replace(e, html=f"<p>Grüße {e.delivery_id} ✓</p>") for e in emails(3)]
    for provider in every_http_provider(fake_provider):
        kept = [provider.keep(e) for e in batch]
        if all(k is e for k, e in zip(kept, batch, strict=True)):
            continue  # kept whole: the same emails
        assert [r.outcome for r in provider.send(batch, batch_key="k")] == [Outcome.ACCEPTED] * 3, provider.name
        assert [r.outcome for r in provider.send(kept, batch_key="k")] == [Outcome.ACCEPTED] * 3, provider.name
        whole, from_kept = [c.body for c in fake_provider.calls_to(provider.name) if c.method == "POST"][-2:]
        assert from_kept == whole, provider.name


def test_postmark_keeps_a_batch_as_its_json_objects_not_its_bodies(fake_postmark: FakeProviders) -> None:
    provider = POSTMARK.build(fake_postmark)
    whole = emails(2)
    kept = [provider.keep(e) for e in whole]
    assert [(e.html, e.text) for e in kept] == [("", "")] * 2
    assert [(e.delivery_id, e.recipient, e.headers()) for e in kept] == [(e.delivery_id, e.recipient, e.headers()) for e in whole]
    assert all(e.encoded for e in kept)
    results = provider.send(kept)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    payload = fake_postmark.calls_to("postmark")[0].json()
    assert [(m["HtmlBody"], m["TextBody"]) for m in payload] == [("<p>Hello</p>", "Hello\n")] * 2


def json_text(value: str) -> JsonText:
    import orjson

    # In pieces, as stage 2 writes it.
    written = orjson.dumps(value)
    return JsonText([written[:3], written[3:]])


def test_postmark_sends_bodies_given_as_json_in_the_bytes_of_the_same_bodies_given_as_strings(fake_postmark: FakeProviders) -> None:
    provider = POSTMARK.build(fake_postmark)
    assert provider.json_bodies
    strings = [dataclasses.replace(e, html=f'<p title="q">Grüße {e.delivery_id} ✓\\</p>', text="Tab\there\n") for e in emails(2)]
    as_json = [dataclasses.replace(e, html="", text="", json_bodies=(json_text(e.html), json_text(e.text))) for e in strings]
    assert [e.bodies() for e in as_json] == [(e.html, e.text) for e in strings]
    for batch in (strings, as_json, [provider.keep(e) for e in as_json]):
        assert [r.outcome for r in provider.send(batch)] == [Outcome.ACCEPTED] * 2
    bodies = [c.body for c in fake_postmark.calls_to("postmark")]
    assert bodies[1] == bodies[0] and bodies[2] == bodies[0]
    assert [(m["HtmlBody"], m["TextBody"]) for m in json.loads(bodies[2])] == [(e.html, e.text) for e in strings]


def test_a_message_given_as_json_over_the_size_limit_is_refused_with_its_size(fake_postmark: FakeProviders) -> None:
    provider = POSTMARK.build(fake_postmark)
    bodies = (json_text("é" * (provider.max_message_bytes or 0)), json_text(""))
    huge = dataclasses.replace(emails(1)[0], html="", text="", json_bodies=bodies)
    assert provider.keep(huge) is huge
    assert "accepts at most" in (provider.send([huge])[0].error or "")
    assert fake_postmark.calls_to("postmark") == []


def test_postmark_keeps_whole_what_it_must_refuse_or_write_otherwise(fake_postmark: FakeProviders) -> None:
    import json

    provider = POSTMARK.build(fake_postmark)
    huge = dataclasses.replace(emails(1)[0], html="x" * (provider.max_message_bytes or 0))
    assert provider.keep(huge) is huge
    assert "accepts at most" in (provider.send([huge])[0].error or "")
    lone, plain = dataclasses.replace(emails(2)[0], text="lone \ud800 surrogate"), emails(2)[1]
    assert provider.keep(lone) is lone
    payload = provider.prepare([lone, provider.keep(plain)])
    from workers.providers import http

    assert http.json_body(payload) == json.dumps(provider.prepare([lone, plain])).encode()


def test_a_body_of_objects_written_before_is_sent_in_pieces_with_the_bytes_and_length_of_the_whole() -> None:
    from workers.providers import http

    for count in (1, 2, 40):
        items = [http.object_json({"To": "a@example.com"}, {"HtmlBody": "é" * 20_000 * (index + 1)}) or b"" for index in range(count)]
        body = http.request_body([http.Encoded(item) for item in items])
        assert isinstance(body, http.JsonArray)
        pieces = list(body)
        assert b"".join(pieces) == http.json_body([http.Encoded(item) for item in items])
        assert len(body) == len(b"".join(pieces))
        assert (len(pieces) > 1) == (count == 40)
    assert http.request_body([{"a": 1}]) == b'[{"a":1}]'
