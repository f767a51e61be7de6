"""What the Resend and SES adapters send conforms to the providers' published request shapes.

Resend: the bodies (captured from the fake) are validated against the request
schema of POST /emails/batch in Resend's OpenAPI spec (tests/specs, MIT, see
resend.LICENSE), with ``$ref``s resolved through a ``referencing`` registry.
SES: the bodies are validated against the SendEmail input shape of botocore's
sesv2 service model, whose member names are the JSON field names (rest-json).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ParamValidationError
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import validate_parameters
from jsonschema import Draft202012Validator
from publisher.core.message import OutgoingEmail
from publisher.core.settings import Settings
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.fakes.resend import TOKEN
from tests.fakes.server import FakeProviders
from tests.fakes.ses import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.test_providers import emails
from workers.providers.resend import ResendProvider
from workers.providers.ses import SesProvider

SPEC = Path(__file__).parent / "specs" / "resend.openapi.yaml"
SPEC_URI = "https://resend.com/openapi.yaml"
BATCH = "#/paths/~1emails~1batch/post"
TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def varied_batch() -> list[OutgoingEmail]:
    """Plain, with Reply-To, and a test send with extra headers and a non-ASCII name."""
    plain, replied, test = emails(3)
    return [
        plain,
        dataclasses.replace(replied, reply_to="Replies <replies@modu.example>"),
        dataclasses.replace(test, is_test=True, to_name="Zoë Ünal", extra_headers={"X-Entity-Ref-ID": "9-3"}),
    ]


@pytest.fixture(scope="module")
def resend_spec() -> Registry[Any]:
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document))
    return registry


def validator(registry: Registry[Any], pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=registry)


def test_resend_batch_bodies_match_the_openapi_request_schema(resend_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    provider = ResendProvider(Settings(resend_api_key=TOKEN, resend_base_url=fake_provider.base_url))
    provider.send(varied_batch(), batch_key="newsletter-9-1-0")
    (call,) = fake_provider.calls_to("resend")
    body = call.json()
    request = validator(resend_spec, BATCH + "/requestBody/content/application~1json/schema")
    assert [error.message for error in request.iter_errors(body)] == []
    assert body[1]["reply_to"] == "Replies <replies@modu.example>"
    assert all(isinstance(value, str) for email in body for value in email["headers"].values())
    assert all(TAG.match(tag["name"]) and TAG.match(tag["value"]) for email in body for tag in email["tags"])
    key_schema = validator(resend_spec, BATCH + "/parameters/0/schema")
    assert resend_spec.contents(SPEC_URI)["paths"]["/emails/batch"]["post"]["parameters"][0]["name"] == "Idempotency-Key"
    assert [error.message for error in key_schema.iter_errors(call.headers["idempotency-key"])] == []


def test_resend_request_schema_is_really_applied(resend_spec: Registry[Any]) -> None:
    request = validator(resend_spec, BATCH + "/requestBody/content/application~1json/schema")
    errors = [error.message for error in request.iter_errors([{"to": ["a@example.com"], "subject": "s", "tags": "no"}])]
    assert any("'from' is a required property" in message for message in errors)
    assert any("is not of type 'array'" in message for message in errors)


def test_fake_resend_answers_match_the_response_schema(resend_spec: Registry[Any], fake_provider: FakeProviders) -> None:
    provider = ResendProvider(Settings(resend_api_key=TOKEN, resend_base_url=fake_provider.base_url))
    batch = varied_batch()
    response = provider.transmit(provider.prepare(batch), idempotency_key="conformance")
    answer = validator(resend_spec, BATCH + "/responses/200/content/application~1json/schema")
    assert [error.message for error in answer.iter_errors(response.json())] == []


@pytest.fixture(scope="module")
def sesv2() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("sesv2", "service-2"), service_name="sesv2")


def assert_json_names_are_member_names(value: Any, shape: Shape, path: str = "") -> None:
    """rest-json writes each member under its own name unless the model renames it: check, recursively."""
    if shape.type_name == "structure":
        for name, item in value.items():
            member = shape.members[name]
            assert member.serialization.get("name", name) == name, f"{path}.{name} is serialised as {member.serialization['name']}"
            assert member.serialization.get("location") in (None, "body"), f"{path}.{name} does not travel in the body"
            assert_json_names_are_member_names(item, member, f"{path}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            assert_json_names_are_member_names(item, shape.member, f"{path}[{index}]")


def test_ses_bodies_match_the_sendemail_input_shape(sesv2: ServiceModel, fake_provider: FakeProviders) -> None:
    settings = Settings(
        ses_access_key_id=ACCESS_KEY_ID,
        ses_secret_access_key=SECRET_ACCESS_KEY,
        ses_region=REGION,
        ses_base_url=fake_provider.base_url,
        ses_configuration_set="newsletter-events",
    )
    SesProvider(settings).send(varied_batch())
    operation: OperationModel = sesv2.operation_model("SendEmail")
    calls = fake_provider.calls_to("ses")
    assert len(calls) == 3
    headers_max = operation.input_shape.members["Content"].members["Simple"].members["Headers"].metadata["max"]
    for call in calls:
        body = call.json()
        validate_parameters(body, operation.input_shape)
        assert_json_names_are_member_names(body, operation.input_shape)
        # botocore checks required members, types and minimums, not maximums or tag patterns.
        assert len(body["Content"]["Simple"]["Headers"]) <= headers_max
        assert all(TAG.match(tag["Name"]) and TAG.match(tag["Value"]) for tag in body["EmailTags"])
        assert all(header["Value"].isascii() for header in body["Content"]["Simple"]["Headers"])


def test_ses_input_shape_is_really_applied(sesv2: ServiceModel) -> None:
    shape = sesv2.operation_model("SendEmail").input_shape
    with pytest.raises(ParamValidationError, match=r"Missing required parameter.*Subject"):
        validate_parameters({"Content": {"Simple": {"Body": {}}}, "EmailTags": [{"Name": "a"}]}, shape)


def test_ses_endpoints_and_signing_name_match_the_model(sesv2: ServiceModel) -> None:
    assert sesv2.signing_name == "ses"
    assert sesv2.operation_model("SendEmail").http == {"method": "POST", "requestUri": "/v2/email/outbound-emails"}
    assert sesv2.operation_model("GetAccount").http == {"method": "GET", "requestUri": "/v2/email/account"}
    errors = {shape.name for shape in sesv2.operation_model("SendEmail").error_shapes}
    assert {"TooManyRequestsException", "LimitExceededException", "SendingPausedException", "MessageRejected"} <= errors


def test_fake_ses_answers_match_the_output_shape(sesv2: ServiceModel, fake_provider: FakeProviders) -> None:
    provider = SesProvider(
        Settings(ses_access_key_id=ACCESS_KEY_ID, ses_secret_access_key=SECRET_ACCESS_KEY, ses_base_url=fake_provider.base_url)
    )
    (attempt,) = provider.transmit(provider.prepare(emails(1)), idempotency_key="conformance")
    assert not isinstance(attempt, Exception)
    validate_parameters(attempt.json(), sesv2.operation_model("SendEmail").output_shape)
