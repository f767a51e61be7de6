"""Amazon SES v2 in the fake provider (SendEmail and GetAccount).

Checks the SigV4 Authorization header (AWS4-HMAC-SHA256, service ``ses``, our
access key id) and recomputes the signature over what arrived, with the
secret, so a request sent differently from how it was signed is refused as
SES refuses it (403 SignatureDoesNotMatch). Errors carry their type in
``x-amzn-ErrorType`` and a ``{"message"}`` body. One message per call;
``faults.reject`` answers 400 MessageRejected for that message.
"""

from __future__ import annotations

import re
import uuid
from email.utils import parseaddr
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.server import Accepted, FakeProviders, Handler, Reply, Request

ACCESS_KEY_ID = "AKIDEXAMPLE0000000000"
SECRET_ACCESS_KEY = "test-secret-access-key"
REGION = "eu-west-1"
SEND = "/v2/email/outbound-emails"
ACCOUNT = "/v2/email/account"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
ERROR_NAMES = {400: "BadRequestException", 403: "AccessDeniedException", 404: "NotFoundException", 429: "TooManyRequestsException"}


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    type_header = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"}
    return Reply(status, {"message": message}, {**type_header, "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})})


class SesHandler(Handler):
    name = "ses"

    def __init__(self) -> None:
        self.sent_last_24_hours = 0

    def route(self, method: str, path: str) -> bool:
        return (method, path) in {("POST", SEND), ("GET", ACCOUNT)}

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        kind = ERROR_NAMES.get(status, "InternalFailure" if status >= 500 else "BadRequestException")
        return error(status, kind, message, headers)

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            quota = {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": float(self.sent_last_24_hours)}
            return Reply(200, {"SendQuota": quota, "SendingEnabled": True, "ProductionAccessEnabled": True, "EnforcementStatus": "HEALTHY"})
        try:
            message = request.json()
        except ValueError:
            return error(400, "SerializationException", "Could not parse the request body.")
        problem = _problem(message)
        if problem:
            return error(400, "BadRequestException", problem)
        to = [parseaddr(address)[1] for address in message["Destination"]["ToAddresses"]]
        rejected = next((fake.faults.reject[address] for address in to if address in fake.faults.reject), None)
        if rejected is not None:
            return error(400, "MessageRejected", rejected[1])
        message_id = f"0102019{uuid.uuid4().hex[:9]}-{uuid.uuid4()}-000000"
        subject = message["Content"]["Simple"]["Subject"]["Data"]
        for address in to:
            fake.accept(Accepted("ses", address, subject, message_id, message))
        self.sent_last_24_hours += len(to)
        return Reply(200, {"MessageId": message_id})

    def _authenticate(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        if not header:
            return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        match = AUTHORIZATION.match(header)
        if match is None or match["service"] != "ses":
            return error(403, "IncompleteSignatureException", f"Authorization header requires the ses service: {header[:60]}")
        if match["key"] != ACCESS_KEY_ID:
            return error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        signed = match["headers"].split(";")
        if "host" not in signed or "x-amz-date" not in signed or any(name not in request.headers for name in signed):
            return error(403, "IncompleteSignatureException", f"Signed headers are incomplete: {match['headers']}")
        if _signature(request, signed, match["region"]) != match["signature"]:
            return error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        return None


def _signature(request: Request, signed: list[str], region: str) -> str:
    """SigV4 over the request as it arrived, with the signed headers only."""
    url = f"http://{request.headers['host']}{request.path}"
    aws = AWSRequest(method=request.method, url=url, data=request.body, headers={name: request.headers[name] for name in signed})
    aws.context["timestamp"] = request.headers["x-amz-date"]
    auth = SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "ses", region)
    return str(auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws))


def _problem(message: Any) -> str | None:
    if not isinstance(message, dict) or not message.get("FromEmailAddress"):
        return "FromEmailAddress is required."
    to = (message.get("Destination") or {}).get("ToAddresses") or []
    if not 1 <= len(to) <= 50:
        return "Destination must have 1 to 50 recipients."
    simple = (message.get("Content") or {}).get("Simple")
    if not isinstance(simple, dict) or not (simple.get("Subject") or {}).get("Data"):
        return "Content.Simple.Subject is required."
    if not (simple.get("Body") or {}):
        return "Content.Simple.Body is required."
    headers = simple.get("Headers") or []
    if len(headers) > 15:
        return "Headers can contain no more than 15 headers in one message."
    if any(not str(h.get("Value", "")).isascii() for h in headers):
        return "Header values must be printable ASCII."
    return None
