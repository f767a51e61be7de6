"""Calling the HTTP API as a client does: a token with scopes, and a session that sends it."""

from __future__ import annotations

from typing import Any

import requests

from publisher.accounts.roles import Scope
from publisher.accounts.tokens import create_token
from publisher.db.engine import Database
from tests.support.recaps import RECAP

#: Every scope there is: a token that may call everything.
ALL_SCOPES = tuple(Scope)
PROBLEM = "application/problem+json"
TIMEOUT = 10


def token(db: Database, name: str = "marketing", scopes: tuple[Scope, ...] = ALL_SCOPES) -> str:
    """A new API token's secret."""
    _, secret = create_token(db, name, list(scopes))
    return secret


class Api:
    """A client of ``/v1`` on the served app, authenticated with ``secret`` (none when empty)."""

    def __init__(self, base_url: str, secret: str = "") -> None:
        self.base = f"{base_url}/v1"
        self.http = requests.Session()
        if secret:
            self.http.headers["Authorization"] = f"Bearer {secret}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=TIMEOUT, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, timeout=TIMEOUT, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.patch(self.base + path, timeout=TIMEOUT, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.delete(self.base + path, timeout=TIMEOUT, **kwargs)


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["detail"]
    return body


def draft(api: Api, **fields: Any) -> dict[str, Any]:
    """Create a draft of the shared recap to "attendees" (``fields`` added to the body); return the campaign the API answers."""
    body = {"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")} | fields
    response = api.post("/campaigns", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def wheres(problem: dict[str, Any]) -> set[str]:
    """The ``where`` of each error a 422 problem lists."""
    return {error["where"] for error in problem["errors"]}
