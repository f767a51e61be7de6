"""Postmark's batch API in the fake provider (POST /email/batch, and GET /server for credential checks).

Checks the server token, required fields and the 500-message limit, and
answers 200 for a batch in which single messages failed, with a per-item
ErrorCode, as Postmark does.
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from typing import Any

from tests.fakes.server import Accepted, FakeProviders, Handler, Reply, Request

TOKEN = "test-server-token"
REQUIRED = ("From", "To", "Subject", "MessageStream")


class PostmarkHandler(Handler):
    name = "postmark"

    def route(self, method: str, path: str) -> bool:
        return (method, path) in {("POST", "/email/batch"), ("GET", "/server")}

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"ErrorCode": status, "Message": message}, headers or {})

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        if request.headers.get("x-postmark-server-token") != TOKEN:
            return Reply(401, {"ErrorCode": 10, "Message": "The Server Token you provided was invalid."})
        if request.method == "GET":  # GET /server: what `newsletter providers check` calls
            return Reply(200, {"ID": 1, "Name": "fake", "DeliveryType": "Live"})
        try:
            payload = request.json()
        except ValueError:
            return Reply(422, {"ErrorCode": 300, "Message": "Invalid JSON"})
        if not isinstance(payload, list) or len(payload) > 500:
            return Reply(422, {"ErrorCode": 300, "Message": "Invalid JSON request or batch larger than 500 messages."})
        return Reply(200, [self._one(message, fake) for message in payload])

    def _one(self, message: dict[str, Any], fake: FakeProviders) -> dict[str, Any]:
        missing = [name for name in REQUIRED if not message.get(name)]
        if missing or not (message.get("HtmlBody") or message.get("TextBody")):
            return {"ErrorCode": 300, "Message": f"Invalid email request: missing {missing or ['body']}"}
        address = parseaddr(message["To"])[1]
        if address in fake.faults.reject:
            code, text = fake.faults.reject[address]
            return {"ErrorCode": code, "Message": text, "To": message["To"]}
        message_id = str(uuid.uuid4())
        fake.accept(Accepted("postmark", address, message["Subject"], message_id, message))
        return {"ErrorCode": 0, "Message": "OK", "MessageID": message_id, "To": message["To"], "SubmittedAt": "2026-01-01T00:00:00Z"}
