"""Every state-changing route of the console and the API, fed a hostile value, an oversized body and a malformed one.

The routes are read from the routers the app gathers, so a route added later
is covered without being listed here. Each is called as someone allowed to
use it (an admin with the session's CSRF token; a token with every scope),
so the bad input reaches the handler rather than the door:

- hostile values (markup, a right-to-left override, a header break, a NUL)
  in every field the forms and bodies use: never a 5xx, and the markup is
  never echoed unescaped;
- a body over the size limit: 413 before any handler reads it;
- a body that is not what its content type says: a 4xx (or the page the
  route answers anyway), never a 5xx;
- an id in the path that no row can have (past the database's integer):
  404 in the console, 422 in the API, never a 5xx, on both databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
import requests
from fastapi.routing import APIRoute

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Role
from publisher.web import app as web_app
from publisher.web.api.problems import PREFIX
from tests.support.api import token
from tests.support.audience import ZOE, people
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import form_of
from tests.support.drafts import save_draft
from tests.support.types import ServeWeb

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN = "ada@modu.example"
SCRIPT = '<script>alert("x")</script>'
HOSTILE = f"{SCRIPT}\u202e\r\nBcc: victim@example.com\x00"
#: Every field name the console's forms and the API's bodies use.
FIELDS = (
    "title", "subject", "preheader", "event_name", "event_date", "venue", "cta_text", "cta_url", "body",
    "resource_title", "resource_url", "resource_description", "list", "provider", "to", "recipients", "when",
    "send_date", "send_time", "time_zone", "force", "action", "email", "name", "role", "password", "reason",
    "scope", "public", "subscriber", "next", "recap", "send_at", "event", "format", "url", "extra",
)  # fmt: skip
LIMIT = 16_384
SIGN_IN = "/console/sign-in"
#: Ends the session the other calls use: called last.
SIGN_OUT = "/console/sign-out"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str

    @property
    def is_api(self) -> bool:
        return self.path.startswith(PREFIX)


#: Ids no row can have: past PostgreSQL's integer, past SQLite's, and past any integer a database holds.
IDS_PAST_RANGE = (str(2**31), str(2**63), "9" * 30)


def routes(methods: set[str]) -> list[Endpoint]:
    """Every route of the console and the API answering one of ``methods``."""
    return [
        Endpoint(method, prefix + route.path)
        for prefix, modules in (
            ("", (*web_app.CONSOLE_BASICS, *web_app.CAMPAIGN_PAGES, *web_app.AUDIENCE_PAGES)),
            (PREFIX, web_app.API_ROUTES),
        )
        for module in modules
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods & methods)
    ]


def endpoints() -> list[Endpoint]:
    """Every POST, PATCH and DELETE route of the console and the API, sign-out last."""
    return sorted(routes({"POST", "PATCH", "DELETE"}), key=lambda endpoint: endpoint.path == SIGN_OUT)


def id_routes() -> list[Endpoint]:
    """Every route, of any method, with a row's id in its path."""
    return [endpoint for endpoint in routes({"GET", "POST", "PATCH", "DELETE"}) if re.search(r"\{\w+_id\}", endpoint.path)]


@dataclass
class Callers:
    base: str
    console: requests.Session
    csrf: str
    api_token: str
    values: dict[str, str]

    def url(self, endpoint: Endpoint, hostile: bool = False) -> str:
        values = {**self.values, "email": quote(HOSTILE, safe="") if hostile else quote(ZOE)}
        return self.base + endpoint.path.format(**values)

    def call(self, endpoint: Endpoint, *, data: bytes, content_type: str, hostile_path: bool = False) -> requests.Response:
        headers = {"Content-Type": content_type}
        client: requests.Session | type[requests] = requests
        if endpoint.is_api:
            headers["Authorization"] = f"Bearer {self.api_token}"
        else:
            headers["X-CSRF-Token"] = self.csrf
            client = self.console
        return client.request(
            endpoint.method, self.url(endpoint, hostile_path), data=data, headers=headers, allow_redirects=False, timeout=TIMEOUT
        )


@pytest.fixture
def callers(settings: Settings, db: Database, serve_web: ServeWeb) -> Iterator[Callers]:
    ids = people(db)
    draft = save_draft(settings, db)
    add_person(db, ADMIN, Role.ADMIN)
    base = serve_web(settings.model_copy(update={"max_request_bytes": LIMIT, "max_import_bytes": 2 * LIMIT}))
    console = sign_in(base, ADMIN)
    yield Callers(
        base=base,
        console=console,
        csrf=csrf_token(console, f"{base}/console/campaigns"),
        api_token=token(db),
        values={"campaign_id": str(draft), "subscriber_id": str(ids[ZOE]), "name": "attendees"},
    )
    console.close()


def test_every_route_is_covered() -> None:
    paths = {endpoint.path for endpoint in endpoints()}
    assert {"/console/campaigns/new", "/console/admin/tokens/create", "/v1/campaigns", "/v1/lists/{name}/subscribers/{email}"} <= paths
    assert len(paths) > 30
    assert endpoints()[-1].path == SIGN_OUT


@SQLITE
def test_hostile_values_never_get_a_server_error_or_come_back_unescaped(callers: Callers) -> None:
    problems = []
    for endpoint in endpoints():
        if endpoint.is_api:
            body = dict.fromkeys(FIELDS, HOSTILE) | {"to": [HOSTILE]}
            answer = callers.call(endpoint, data=json.dumps(body).encode(), content_type="application/json")
        else:
            form = "&".join(f"{field}={quote(HOSTILE)}" for field in FIELDS)
            answer = callers.call(endpoint, data=form.encode(), content_type="application/x-www-form-urlencoded")
        # The handler itself answered: not the size limit, the token or the CSRF check (sign-in has a form token of its own).
        reached = answer.status_code not in (401, 403, 413) or endpoint.path == SIGN_IN
        if answer.status_code >= 500 or SCRIPT in answer.text or not reached:
            problems.append(f"{endpoint.method} {endpoint.path}: {answer.status_code} {answer.text[:200]!r}")
    for endpoint in endpoints():
        if "{email}" in endpoint.path:
            answer = callers.call(endpoint, data=b"", content_type="application/json", hostile_path=True)
            if answer.status_code >= 500 or SCRIPT in answer.text:
                problems.append(f"{endpoint.method} {endpoint.path} (hostile address): {answer.status_code}")
    assert problems == []


@SQLITE
def test_an_oversized_body_is_refused_with_413_before_any_handler(callers: Callers) -> None:
    oversized = b"x=" + b"a" * (4 * LIMIT)
    problems = []
    for endpoint in endpoints():
        content_type = "application/json" if endpoint.is_api else "application/x-www-form-urlencoded"
        answer = callers.call(endpoint, data=oversized, content_type=content_type)
        if answer.status_code != 413:
            problems.append(f"{endpoint.method} {endpoint.path}: {answer.status_code}")
    assert problems == []


@SQLITE
def test_a_malformed_body_gets_a_client_error_never_a_server_error(callers: Callers) -> None:
    problems = []
    for endpoint in endpoints():
        if endpoint.is_api:
            cases = [(b'{"list": "attendees", "title": ', "application/json"), (b"\xff\xfe\x00garbage", "application/json")]
        else:
            cases = [
                (b"%zz=%%&\xff\xfe=1&=&a", "application/x-www-form-urlencoded"),
                (b"not a multipart body", "multipart/form-data; boundary=never-seen"),
            ]
        for data, content_type in cases:
            answer = callers.call(endpoint, data=data, content_type=content_type)
            if answer.status_code >= 500:
                problems.append(f"{endpoint.method} {endpoint.path} ({content_type}): {answer.status_code} {answer.text[:200]!r}")
    assert problems == []


def test_every_route_with_an_id_is_covered() -> None:
    paths = {endpoint.path for endpoint in id_routes()}
    expected = {"/console/campaigns/{campaign_id}/export.csv", "/console/subscribers/{subscriber_id}/erase", "/v1/campaigns/{campaign_id}"}
    assert expected <= paths


def test_an_id_past_the_databases_range_is_404_in_the_console_and_422_in_the_api(callers: Callers) -> None:
    # A form each route would take for a campaign it has, so that only the id is wrong.
    form = urlencode(form_of() | {"choice": "resend", "variant": "1", "test_recipients": ZOE}, doseq=True).encode()
    problems = []
    for endpoint in id_routes():
        for number in IDS_PAST_RANGE:
            values = {**callers.values, "campaign_id": number, "subscriber_id": number}
            path = endpoint.path.format(**values)
            content_type = "application/json" if endpoint.is_api else "application/x-www-form-urlencoded"
            try:
                answer = callers.call(Endpoint(endpoint.method, path), data=b"{}" if endpoint.is_api else form, content_type=content_type)
            except requests.ConnectionError:  # the server failed before it could answer
                problems.append(f"{endpoint.method} {path[:60]}: no answer")
                continue
            if answer.status_code != (422 if endpoint.is_api else 404):
                problems.append(f"{endpoint.method} {path[:60]}: {answer.status_code}")
    assert problems == [], "\n".join(problems)
