"""Mailgun's messages API in the fake provider (POST /v3/{domain}/messages, GET /v4/domains/{domain}).

Reads the multipart form with the standard library's email parser, checks
basic auth ``api:KEY``, the domain (404 for any other, as for an EU domain
called on the US host), required fields and limits (1000 recipients, 16 KB of
o:/h:/v: fields, 25 MB), then makes each recipient's message the way batch
sending does: ``%recipient.NAME%`` replaced from recipient-variables in the
subject, bodies, headers and user variables. A rejected address fails the
whole call with 400 "'to' parameter is not a valid address", naming nobody,
as Mailgun does. Errors are ``{"message": …}``; 401 is plain "Forbidden".
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from tests.fakes.server import Accepted, FakeProviders, Handler, Reply, Request

API_KEY = "key-test"
DOMAIN = "mg.example.com"
MAX_BYTES = 25 * 1024 * 1024
OPTIONS_LIMIT = 16 * 1024
ROUTE = re.compile(r"^/v3/(?P<send>[^/]+)/messages$|^/v4/domains/(?P<check>[^/]+)$")
VARIABLE = re.compile(r"%recipient\.([^%\s]+)%")
INVALID_TO = "'to' parameter is not a valid address. please check documentation"


def form_fields(request: Request) -> list[tuple[str, str]]:
    """The fields of a multipart/form-data body, in order (repeated names repeat)."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields = []
    for part in message.walk():
        if part is message:
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields.append((str(name), payload.decode("utf-8")))
    return fields


class MailgunHandler(Handler):
    name = "mailgun"

    def route(self, method: str, path: str) -> bool:
        match = ROUTE.match(path)
        return match is not None and method == ("POST" if match["send"] else "GET")

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        headers = headers or {}
        if status == 429:
            seconds = headers.get("Retry-After", "1")
            message = f"Domain {DOMAIN} is not allowed to send: account-requests-per-sec limit exceeded, try again after {seconds} seconds"
        return Reply(status, {"message": message}, headers)

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        if request.headers.get("authorization") != "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode():
            return Reply(401, "Forbidden", {"Content-Type": "text/plain"})
        match = ROUTE.match(request.path)
        assert match is not None
        domain = match["send"] or match["check"]
        if domain != DOMAIN:
            return Reply(404, {"message": f"Domain not found: {domain}"})
        if request.method == "GET":
            return Reply(200, {"domain": {"name": DOMAIN, "state": "active", "type": "custom"}, "receiving_dns_records": []})
        if len(request.body) > MAX_BYTES:
            return Reply(413, {"message": "Request entity too large"})
        try:
            fields = form_fields(request)
        except ValueError:
            return Reply(400, {"message": "Content-Type must be multipart/form-data"})
        return self._send(fields, fake)

    def _send(self, fields: list[tuple[str, str]], fake: FakeProviders) -> Reply:
        single = {name: value for name, value in fields if name != "to"}
        to = getaddresses([value for name, value in fields if name == "to"])
        for required in ("from", "subject"):
            if not single.get(required):
                return Reply(400, {"message": f"{required} parameter is missing"})
        if not to:
            return Reply(400, {"message": "to parameter is missing"})
        if not (single.get("text") or single.get("html")):
            return Reply(400, {"message": "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"})
        if len(to) > 1000:
            return Reply(400, {"message": "Too many recipients: the maximum is 1000"})
        if sum(len(n) + len(v.encode()) for n, v in fields if n[:2] in ("o:", "h:", "v:", "t:")) > OPTIONS_LIMIT:
            return Reply(400, {"message": "Send options (parameters starting with o:, h:, or v:) are limited to 16KB total"})
        try:
            variables = json.loads(single.get("recipient-variables", "{}"))
            assert isinstance(variables, dict)
        except (ValueError, AssertionError):
            return Reply(400, {"message": "recipient-variables parameter is not a valid JSON"})
        refused = [address for _, address in to if address in fake.faults.reject or "@" not in address]
        if refused:
            status = fake.faults.reject[refused[0]][0] if refused[0] in fake.faults.reject else 400
            return Reply(status, {"message": INVALID_TO})
        message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:16]}@{DOMAIN}>"
        for name, address in to:
            message = _message(single, variables.get(address, {}) if variables else None, name, address)
            fake.accept(Accepted("mailgun", address, message["subject"], message_id, message))
        return Reply(200, {"id": message_id, "message": "Queued. Thank you."})


def _message(fields: dict[str, str], own: dict[str, Any] | None, name: str, address: str) -> dict[str, Any]:
    """What one recipient receives; Mailgun substitutes only in batch calls (with recipient-variables)."""

    def substitute(text: str) -> str:
        if own is None:
            return text
        return VARIABLE.sub(lambda m: str(own[m.group(1)]) if m.group(1) in own else m.group(0), text)

    return {
        "from": fields["from"],
        "to": {"name": name, "email": address},
        "subject": substitute(fields["subject"]),
        "html": substitute(fields.get("html", "")),
        "text": substitute(fields.get("text", "")),
        "headers": {n[2:]: substitute(v) for n, v in fields.items() if n.startswith("h:")},
        "user-variables": {n[2:]: substitute(v) for n, v in fields.items() if n.startswith("v:")},
        "tags": [v for n, v in fields.items() if n == "o:tag"],
    }
