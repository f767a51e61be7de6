"""Resend's batch API in the fake provider (POST /emails/batch, GET /domains).

Checks the Bearer key, the 100-email limit and each email's required fields,
and keeps Idempotency-Key as Resend does: a repeated key with the same body
gets the first answer again without anything being sent again; with another
body it gets 409 ``invalid_idempotent_request``. Only 200 answers are kept
(a faulted call never reaches the handler). The 409
``concurrent_idempotent_requests`` of a key still in flight cannot happen
here, as the handler answers one call at a time: tests use a canned answer.

Validation follows ``x-batch-validation``: strict (the default) refuses the
whole batch with 422 when one email is invalid or rejected through
``faults.reject``; permissive accepts the others and lists the refused ones
in ``errors`` by index.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from email.utils import parseaddr
from typing import Any

from tests.fakes.server import Accepted, FakeProviders, Handler, Reply, Request

TOKEN = "re_test_full_access"
#: A valid key that may only send (Resend answers 401 restricted_api_key elsewhere).
SENDING_ONLY_TOKEN = "re_test_sending_only"
MAX_BATCH = 100
TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: Resend sends its rate-limit headers with every answer.
RATE_HEADERS = {"ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "1"}


def error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"statusCode": status, "name": name, "message": message}, headers or {})


class ResendHandler(Handler):
    name = "resend"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Idempotency-Key → (digest of the body, the answer given).
        self.keys: dict[str, tuple[str, Reply]] = {}

    def route(self, method: str, path: str) -> bool:
        return (method, path) in {("POST", "/emails/batch"), ("GET", "/domains")}

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        if status == 429:
            limits = {**RATE_HEADERS, "ratelimit-remaining": "0"}
            return error(429, "rate_limit_exceeded", message, {**limits, **(headers or {})})
        return error(status, "application_error" if status >= 500 else "validation_error", message, headers)

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        token = request.headers.get("authorization", "")
        if not token:
            return error(401, "missing_api_key", "Missing API key in the authorization header.")
        if token not in (f"Bearer {TOKEN}", f"Bearer {SENDING_ONLY_TOKEN}"):
            return error(403, "invalid_api_key", "API key is invalid.")
        if request.method == "GET":
            if token != f"Bearer {TOKEN}":
                return error(401, "restricted_api_key", "This API key is restricted to only send emails.")
            return Reply(200, {"object": "list", "has_more": False, "data": [{"id": "d1", "name": "modu.example", "status": "verified"}]})
        key = request.headers.get("idempotency-key")
        if key is None:
            return self._send(request, fake)
        if not 1 <= len(key) <= 256:
            return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        digest = hashlib.sha256(request.body).hexdigest()
        with self.lock:
            seen = self.keys.get(key)
            if seen is not None:
                if seen[0] != digest:
                    return error(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.")
                return seen[1]
            reply = self._send(request, fake)
            if reply.status == 200:
                self.keys[key] = (digest, reply)
            return reply

    def _send(self, request: Request, fake: FakeProviders) -> Reply:
        try:
            emails = request.json()
        except ValueError:
            return error(400, "validation_error", "Invalid JSON body.")
        if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_BATCH:
            return error(422, "validation_error", f"The batch must be an array of 1 to {MAX_BATCH} emails.")
        problems = {index: problem for index, email in enumerate(emails) if (problem := self._problem(email, fake))}
        permissive = request.headers.get("x-batch-validation") == "permissive"
        if problems and not permissive:
            index, problem = next(iter(problems.items()))
            return error(422, "validation_error", f"emails[{index}]: {problem}")
        data = [{"id": self._accept(email, fake)} for index, email in enumerate(emails) if index not in problems]
        body: dict[str, Any] = {"data": data}
        if permissive:
            body["errors"] = [{"index": index, "message": problem} for index, problem in problems.items()]
        return Reply(200, body, RATE_HEADERS)

    def _problem(self, email: Any, fake: FakeProviders) -> str | None:
        if not isinstance(email, dict):
            return "An email must be an object."
        missing = [name for name in ("from", "to", "subject") if not email.get(name)]
        if missing:
            return f"The `{missing[0]}` field is missing."
        to = email["to"] if isinstance(email["to"], list) else [email["to"]]
        if not 1 <= len(to) <= 50:
            return "The `to` field must have 1 to 50 addresses."
        if not (email.get("html") or email.get("text")):
            return "Either `html` or `text` must be provided."
        if any(not isinstance(value, str) for value in (email.get("headers") or {}).values()):
            return "Header values must be strings."
        for tag in email.get("tags") or []:
            if not (TAG.match(str(tag.get("name", ""))) and TAG.match(str(tag.get("value", "")))):
                return "Tags should only contain ASCII letters, numbers, underscores, or dashes."
        for address in to:
            rejected = fake.faults.reject.get(parseaddr(address)[1])
            if rejected:
                return rejected[1]
        return None

    def _accept(self, email: dict[str, Any], fake: FakeProviders) -> str:
        message_id = str(uuid.uuid4())
        for address in email["to"] if isinstance(email["to"], list) else [email["to"]]:
            fake.accept(Accepted("resend", parseaddr(address)[1], email["subject"], message_id, email))
        return message_id
