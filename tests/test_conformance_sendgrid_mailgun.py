"""What the SendGrid and Mailgun adapters send conforms to the providers' published request shapes.

SendGrid: the JSON bodies (captured from the fake) are validated against the
request schema of POST /v3/mail/send in SendGrid's OpenAPI spec (tests/specs,
MIT, see sendgrid.LICENSE), ``$ref``s resolved through a ``referencing``
registry. Mailgun: the multipart form fields are validated against the
multipart schema of POST /v3/{domain_name}/messages in Mailgun's OpenAPI spec
(tests/specs, Apache-2.0, see mailgun.LICENSE). The fakes' own answers are
checked against the specs' response schemas, so the fakes stay honest too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from publisher.core.message import OutgoingEmail
from publisher.core.settings import Settings
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.fakes import mailgun as fake_mailgun
from tests.fakes import sendgrid as fake_sendgrid
from tests.fakes.mailgun import form_fields
from tests.fakes.server import FakeProviders
from tests.test_provider_sendgrid import personalised
from workers.providers.mailgun import MailgunProvider
from workers.providers.sendgrid import SendGridProvider

SPECS = Path(__file__).parent / "specs"
SENDGRID_URI = "https://sendgrid.com/mail-v3.openapi.json"
MAILGUN_URI = "https://documentation.mailgun.com/openapi.yaml"
MAIL_SEND = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
MESSAGES = "#/components/schemas/POST-v3-domain_name-messages-multipart-form-data-RequestBody"
#: Form fields the spec documents by prefix (its properties ``h:X-My-Header`` and ``v:my-var`` are examples).
PREFIXED = re.compile(r"^(h|v):[!-9;-~]+$")


def varied_batch() -> list[OutgoingEmail]:
    """Plain, with Reply-To, and a test send with extra headers and a non-ASCII name."""
    plain, other, replied, test = personalised(4)
    return [
        plain,
        other,
        dataclasses.replace(replied, reply_to="Replies <replies@modu.example>"),
        dataclasses.replace(test, is_test=True, to_name="Zoë Ünal", extra_headers={"X-Entity-Ref-ID": "9-4"}),
    ]


def nullable_as_null(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema: null is one of the allowed types."""
    if isinstance(node, dict):
        node = {key: nullable_as_null(value) for key, value in node.items()}
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
    elif isinstance(node, list):
        node = [nullable_as_null(value) for value in node]
    return node


@pytest.fixture(scope="module")
def sendgrid_spec() -> Registry[Any]:
    document = nullable_as_null(json.loads((SPECS / "sendgrid-mail-v3.openapi.json").read_text(encoding="utf-8")))
    request = document["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"]
    # The spec types the top-level custom_args as a string, but the API takes an object of string
    # values there, as its own description ("overridden by custom_args set at the personalizations
    # level") and the personalization-level field say; only this one field is corrected.
    assert request["properties"]["custom_args"]["type"] == "string"
    request["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    registry: Registry[Any] = Registry().with_resource(SENDGRID_URI, DRAFT202012.create_resource(document))
    return registry


@pytest.fixture(scope="module")
def mailgun_spec() -> Registry[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load((SPECS / "mailgun.openapi.yaml").read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)
    registry: Registry[Any] = Registry().with_resource(MAILGUN_URI, DRAFT202012.create_resource(document))
    return registry


def validator(registry: Registry[Any], uri: str, pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": uri + pointer}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


def test_sendgrid_bodies_match_the_mail_send_request_schema(sendgrid_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    operation = sendgrid_spec.contents(SENDGRID_URI)["paths"]["/v3/mail/send"]["post"]
    assert operation["requestBody"] == {"$ref": "#/components/requestBodies/PostMailSend"}
    settings = Settings(sendgrid_api_key=fake_sendgrid.API_KEY, sendgrid_base_url=fake_provider.base_url, sendgrid_asm_group_id=7)
    SendGridProvider(settings).send(varied_batch())
    bodies = [call.json() for call in fake_provider.calls_to("sendgrid")]
    assert len(bodies) == 2  # the Reply-To email goes in its own call
    request = validator(sendgrid_spec, SENDGRID_URI, MAIL_SEND)
    declared = sendgrid_spec.contents(SENDGRID_URI)["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    declared = declared["schema"]["properties"]
    for body in bodies:
        assert errors(request, body) == []
        # The schema allows any extra field; we send only declared ones.
        assert set(body) <= set(declared)
        assert all(set(p) <= set(declared["personalizations"]["items"]["properties"]) for p in body["personalizations"])
        assert all(isinstance(v, str) for p in body["personalizations"] for v in p["headers"].values())
    assert bodies[1]["reply_to"] == {"email": "replies@modu.example", "name": "Replies"}
    assert bodies[0]["personalizations"][2]["headers"]["X-Newsletter-Test"] == "yes"


def test_sendgrid_request_schema_is_really_applied(sendgrid_spec: Registry[Any]) -> None:
    request = validator(sendgrid_spec, SENDGRID_URI, MAIL_SEND)
    bad = {"from": {"email": "not an address"}, "personalizations": [{"subject": ""}], "custom_args": ["x"], "asm": {}}
    found = errors(request, bad)
    assert any("'to' is a required property" in e for e in found)
    assert any("custom_args" in e for e in found)
    assert any("'group_id' is a required property" in e for e in found)
    assert any("is not a 'email'" in e for e in found)


def test_the_fake_sendgrid_answers_in_the_spec_shapes(sendgrid_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    error = validator(sendgrid_spec, SENDGRID_URI, "#/components/schemas/ErrorResponse")
    url = fake_provider.base_url + "/v3/mail/send"
    unauthorised = requests.post(url, json={}, headers={"Authorization": "Bearer wrong"}, timeout=5)
    invalid = requests.post(url, json={"from": {}}, headers={"Authorization": f"Bearer {fake_sendgrid.API_KEY}"}, timeout=5)
    assert (unauthorised.status_code, invalid.status_code) == (401, 400)
    assert errors(error, unauthorised.json()) == []
    assert errors(error, invalid.json()) == []


def form_instance(fields: list[tuple[str, str]], properties: dict[str, Any]) -> dict[str, Any]:
    """The form as the object the multipart schema describes: array properties collect repeated fields."""
    instance: dict[str, Any] = {}
    for name, value in fields:
        if properties.get(name, {}).get("type") == "array":
            instance.setdefault(name, []).append(value)
        else:
            assert name not in instance, f"{name} sent twice"
            instance[name] = value
    return instance


def test_mailgun_forms_match_the_messages_request_schema(mailgun_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    operation = mailgun_spec.contents(MAILGUN_URI)["paths"]["/v3/{domain_name}/messages"]["post"]
    assert operation["requestBody"]["content"]["multipart/form-data"]["schema"] == {"$ref": MESSAGES}
    settings = Settings(mailgun_api_key=fake_mailgun.API_KEY, mailgun_domain=fake_mailgun.DOMAIN, mailgun_base_url=fake_provider.base_url)
    MailgunProvider(settings).send(varied_batch())
    forms = [form_fields(call) for call in fake_provider.calls_to("mailgun")]
    assert [sum(name == "to" for name, _ in form) for form in forms] == [2, 1, 1]  # Reply-To and the test send's headers differ
    schema = mailgun_spec.contents(MAILGUN_URI)["components"]["schemas"][MESSAGES.rsplit("/", 1)[1]]
    properties = schema["properties"]
    request = validator(mailgun_spec, MAILGUN_URI, MESSAGES)
    for form in forms:
        instance = form_instance(form, properties)
        assert errors(request, instance) == []
        unknown = [name for name in instance if name not in properties and not PREFIXED.match(name)]
        assert unknown == []
        options = sum(len(name) + len(value.encode()) for name, value in form if name[:2] in ("o:", "h:", "v:", "t:"))
        assert options <= 16 * 1024
    batch = form_instance(forms[0], properties)
    variables = json.loads(batch["recipient-variables"])
    assert list(variables) == ["person0@example.com", "person1@example.com"]
    assert all(isinstance(value, str) for own in variables.values() for value in own.values())
    assert "recipient-variables" not in form_instance(forms[1], properties)


def test_mailgun_request_schema_is_really_applied(mailgun_spec: Registry[Any]) -> None:
    request = validator(mailgun_spec, MAILGUN_URI, MESSAGES)
    found = errors(request, {"from": "a@example.com", "to": "b@example.com", "o:tracking": "maybe"})
    assert any("'subject' is a required property" in e for e in found)
    assert any("is not of type 'array'" in e for e in found)
    assert any("'maybe' is not one of" in e for e in found)


def test_the_fake_mailgun_answers_in_the_spec_shapes(mailgun_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    url = f"{fake_provider.base_url}/v3/{fake_mailgun.DOMAIN}/messages"
    form = [("from", "a@modu.example"), ("to", "b@example.com"), ("subject", "s"), ("text", "t")]
    files = [(name, (None, value)) for name, value in form]
    queued = requests.post(url, files=files, auth=("api", fake_mailgun.API_KEY), timeout=5)
    refused = requests.post(url, files=files[:2], auth=("api", fake_mailgun.API_KEY), timeout=5)
    assert (queued.status_code, refused.status_code) == (200, 400)
    schemas = "#/components/schemas/github.com-mailgun-influx-httpapi-"
    assert errors(validator(mailgun_spec, MAILGUN_URI, schemas + "SendMessageResponse"), queued.json()) == []
    assert errors(validator(mailgun_spec, MAILGUN_URI, schemas + "GetMessageResponseNotFound"), refused.json()) == []
