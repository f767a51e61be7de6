"""SendGrid's v3 Mail Send API in the fake provider (POST /v3/mail/send, GET /v3/scopes).

Checks the Bearer key, the fields SendGrid requires and its limits (1000
personalizations and recipients, 10,000 bytes of substitutions per
personalization, 30 MB), applies each personalization's substitutions to the
subject and content as SendGrid does, and answers 202 with an empty body and
the X-Message-Id header. Errors are ``{"errors": [{"field", "message"}]}``;
a rejected recipient is a 400 naming its personalization, which fails the
whole request, as SendGrid does.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.server import Accepted, FakeProviders, Handler, Reply, Request

API_KEY = "SG.test-key"
MAX_BYTES = 30 * 1024 * 1024
SUBSTITUTIONS_LIMIT = 10_000
SCOPES = ["mail.send", "scopes.read"]


class SendGridHandler(Handler):
    name = "sendgrid"

    def route(self, method: str, path: str) -> bool:
        return (method, path) in {("POST", "/v3/mail/send"), ("GET", "/v3/scopes")}

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"errors": [{"field": None, "message": message}]}, headers or {})

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return self.error(401, "The provided authorization grant is invalid, expired, or revoked")
        if request.method == "GET":
            return Reply(200, {"scopes": SCOPES})
        if len(request.body) > MAX_BYTES:
            return self.error(413, "content too large")
        try:
            payload = request.json()
        except ValueError:
            return self.error(400, "Bad Request")
        problems = _problems(payload) if isinstance(payload, dict) else [(None, "Bad Request")]
        if problems:
            return Reply(400, {"errors": [{"field": field, "message": message} for field, message in problems]})
        personalizations = payload["personalizations"]
        rejected = [
            (f"personalizations.{index}.to.0.email", fake.faults.reject[p["to"][0]["email"]])
            for index, p in enumerate(personalizations)
            if p["to"][0]["email"] in fake.faults.reject
        ]
        if rejected:
            status = rejected[0][1][0]
            return Reply(status, {"errors": [{"field": field, "message": reason} for field, (_, reason) in rejected]})
        message_id = uuid.uuid4().hex[:22]
        for personalization in personalizations:
            message = _message(payload, personalization)
            fake.accept(Accepted("sendgrid", personalization["to"][0]["email"], message["subject"], message_id, message))
        return Reply(202, None, {"X-Message-Id": message_id})


def _problems(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not 1 <= len(personalizations) <= 1000:
        return [("personalizations", "The personalizations field is required and must have at least one and at most 1000 entries.")]
    if not isinstance(payload.get("from"), dict) or not payload["from"].get("email"):
        problems.append(("from.email", "The from object must be provided for every email send."))
    content = payload.get("content")
    if not isinstance(content, list) or not content or not all(isinstance(c, dict) and c.get("type") and c.get("value") for c in content):
        problems.append(("content", "Unless a valid template_id is provided, the content parameter is required."))
    elif any(c["type"] == "text/plain" for c in content) and content[0]["type"] != "text/plain":
        problems.append(("content.0.type", "If present, text/plain must be first, followed by any other content."))
    if not isinstance(payload.get("custom_args", {}), dict):
        problems.append(("custom_args", "Invalid type. Expected: object."))
    recipients = 0
    for index, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if not isinstance(to, list) or not to or not all(isinstance(r, dict) and "@" in str(r.get("email", "")) for r in to):
            problems.append((f"personalizations.{index}.to", "The to array is required and must hold valid email addresses."))
            continue
        recipients += len(to)
        if not (personalization.get("subject") or payload.get("subject")):
            problems.append((f"personalizations.{index}.subject", "The subject is required."))
        substitutions = personalization.get("substitutions", {})
        if sum(len(k.encode()) + len(str(v).encode()) for k, v in substitutions.items()) > SUBSTITUTIONS_LIMIT:
            problems.append((f"personalizations.{index}.substitutions", "Substitutions may not exceed 10000 bytes per personalization."))
        if not all(isinstance(v, str) for v in personalization.get("headers", {}).values()):
            problems.append((f"personalizations.{index}.headers", "Invalid type. Expected: string."))
    if recipients > 1000:
        problems.append(("personalizations", "The total number of recipients must be no more than 1000."))
    return problems


def _message(payload: dict[str, Any], personalization: dict[str, Any]) -> dict[str, Any]:
    """What one recipient receives: content and subject with the personalization's substitutions made."""

    def substitute(text: str) -> str:
        for key, value in personalization.get("substitutions", {}).items():
            text = text.replace(key, value)
        return text

    bodies = {part["type"]: substitute(part["value"]) for part in payload["content"]}
    return {
        "from": payload["from"],
        "to": personalization["to"][0],
        "subject": substitute(personalization.get("subject") or payload["subject"]),
        "html": bodies.get("text/html", ""),
        "text": bodies.get("text/plain", ""),
        "headers": {**payload.get("headers", {}), **personalization.get("headers", {})},
        "custom_args": {**payload.get("custom_args", {}), **personalization.get("custom_args", {})},
        "reply_to": payload.get("reply_to"),
        "asm": payload.get("asm"),
        "categories": payload.get("categories", []),
    }
