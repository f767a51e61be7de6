"""Signing in to the served console with a real HTTP client, as a browser would."""

from __future__ import annotations

import re

import requests

from publisher.accounts.users import add_user
from publisher.db.engine import Database
from publisher.db.models import Role

PASSWORD = "correct horse battery staple"
TIMEOUT = 10.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_person(db: Database, email: str, role: Role = Role.ADMIN, password: str = PASSWORD) -> str:
    add_user(db, email, role, password)
    return email


def sign_in(base_url: str, email: str, password: str = PASSWORD) -> requests.Session:
    """A client signed in to the console; raises if sign-in fails."""
    client = requests.Session()
    # As a browser does: the sign-in page sets the form's double-submit cookie and field.
    token = csrf_token(client, f"{base_url}/console/sign-in")
    fields = {"email": email, "password": password, "csrf_token": token}
    answer = client.post(f"{base_url}/console/sign-in", data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return client


def csrf_token(client: requests.Session, page_url: str) -> str:
    """The CSRF token the console's forms carry, read from a page as a browser would."""
    answer = client.get(page_url, timeout=TIMEOUT)
    answer.raise_for_status()
    found = _CSRF.search(answer.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
