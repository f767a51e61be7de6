"""What the Postmark adapter sends conforms to Postmark's documented /email/batch body.

Postmark publishes no OpenAPI spec, so tests/specs/postmark-batch.schema.json
is a JSON Schema written from its documentation; the bodies are captured from
the fake provider and validated against it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from publisher.core.settings import Settings

from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.test_provider_sendgrid import personalised
from workers.providers.postmark import PostmarkProvider

SCHEMA = Path(__file__).parent / "specs" / "postmark-batch.schema.json"


@pytest.fixture(scope="module")
def batch_schema() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


def test_postmark_batch_bodies_match_the_documented_schema(batch_schema: Draft202012Validator, fake_provider: FakeProviders) -> None:
    plain, replied, test = personalised(3)
    batch = [
        plain,
        dataclasses.replace(replied, reply_to="Replies <replies@modu.example>"),
        dataclasses.replace(test, is_test=True, to_name="Zoë Ünal", extra_headers={"X-Entity-Ref-ID": "9-3"}),
    ]
    PostmarkProvider(Settings(postmark_api_key=TOKEN, postmark_base_url=fake_provider.base_url)).send(batch)
    (call,) = fake_provider.calls_to("postmark")
    body = call.json()
    assert errors(batch_schema, body) == []
    assert [message["MessageStream"] for message in body] == ["broadcast"] * 3
    assert body[1]["ReplyTo"] == "Replies <replies@modu.example>"


def test_postmark_schema_is_really_applied(batch_schema: Draft202012Validator) -> None:
    message = {"From": "a@modu.example", "To": "b@example.com", "Subject": "s", "TextBody": "t"}
    assert errors(batch_schema, [message]) == []
    assert any("'Tags' was unexpected" in e for e in errors(batch_schema, [message | {"Tags": ["x"]}]))
    assert errors(batch_schema, [{k: v for k, v in message.items() if k != "TextBody"}])
    assert errors(batch_schema, [message | {"Headers": {"X-A": "b"}}])
    assert errors(batch_schema, [message | {"Metadata": {"delivery_id": 1}}])
    assert any("too long" in e for e in errors(batch_schema, [message] * 501))
