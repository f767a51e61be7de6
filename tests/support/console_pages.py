"""A signed-in console user driving the pages with a real HTTP client: GET a page, POST a form with the page's CSRF token."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import requests

from publisher.accounts.passwords import hash_password
from publisher.db.engine import Database
from publisher.db.models import Role, User
from tests.support.console import PASSWORD, TIMEOUT, csrf_token, sign_in


@dataclass
class Console:
    base: str
    client: requests.Session
    csrf: str

    def get(self, path: str, **params: str) -> requests.Response:
        return self.client.get(self.base + path, params=params, allow_redirects=False, timeout=TIMEOUT)

    def post(
        self, path: str, data: dict[str, Any] | None = None, files: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> requests.Response:
        """POST a form as the page would send it; ``csrf=False`` leaves the token out, as a forged form would."""
        fields = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.client.post(self.base + path, data=fields, files=files, allow_redirects=False, timeout=TIMEOUT)


@cache
def _password_hash() -> str:
    # One argon2 hash of the shared password for every user these tests add: each takes half a second.
    return hash_password(PASSWORD)


def console_as(db: Database, base: str, role: Role, email: str | None = None) -> Console:
    """A new user with ``role`` and the shared test password, signed in."""
    address = email or f"{role.value}@modu.example"
    with db.transaction() as session:
        session.add(User(email=address, role=role, password_hash=_password_hash()))
    client = sign_in(base, address)
    return Console(base, client, csrf_token(client, f"{base}/console/lists"))


def csv_file(text: str, name: str = "people.csv") -> dict[str, tuple[str, bytes, str]]:
    """The ``files`` of a form with a CSV upload in its ``file`` field."""
    return {"file": (name, text.encode(), "text/csv")}
