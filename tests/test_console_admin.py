"""The console's admin page: users and roles, API tokens shown once, the audit log; admins only."""

from __future__ import annotations

import re

import pytest
import requests

from publisher.accounts.audit import Action, entries, log
from publisher.accounts.roles import Actor, Scope
from publisher.accounts.tokens import list_tokens, token_for
from publisher.accounts.users import list_users
from publisher.db.engine import Database
from publisher.db.models import Role
from tests.support.console import TIMEOUT, sign_in
from tests.support.console_pages import console_as

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SHOWN_ONCE = re.compile(r'id="shown-once" type="text" readonly value="([^"]+)"')


def test_the_admin_page_is_for_admins_only(db: Database, web_url: str) -> None:
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, web_url, role)
        assert 'href="/console/admin"' not in user.get("/console/lists").text
        assert user.get("/console/admin").status_code == 403
    admin = console_as(db, web_url, Role.ADMIN)
    assert 'href="/console/admin"' in admin.get("/console/lists").text
    page = admin.get("/console/admin")
    assert page.status_code == 200
    assert "Users and roles" in page.text and "API tokens" in page.text and "Audit log" in page.text


def test_an_admin_adds_a_user_with_a_generated_password_shown_once(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    answer = admin.post("/console/admin/users/add", {"email": "Grace@Modu.example", "role": "editor", "password": ""})
    assert answer.status_code == 200
    found = SHOWN_ONCE.search(answer.text)
    assert found, answer.text
    password = found.group(1)
    assert sign_in(web_url, "grace@modu.example", password)
    assert password not in admin.get("/console/admin").text
    assert {(u.email, u.role) for u in list_users(db)} == {("admin@modu.example", Role.ADMIN), ("grace@modu.example", Role.EDITOR)}
    (entry,) = entries(db)
    assert (entry.action, entry.target, entry.detail) == ("user-added", "grace@modu.example", "editor")
    assert password not in entry.detail


def test_a_typed_password_is_used_and_not_shown(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    answer = admin.post("/console/admin/users/add", {"email": "linus@modu.example", "role": "viewer", "password": "a long typed secret"})
    assert answer.status_code == 200 and not SHOWN_ONCE.search(answer.text)
    assert "a long typed secret" not in answer.text
    assert sign_in(web_url, "linus@modu.example", "a long typed secret")


def test_bad_user_input_is_shown_next_to_its_field(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    answer = admin.post("/console/admin/users/add", {"email": "<b>nobody</b>", "role": "overlord", "password": "short"})
    assert answer.status_code == 400
    for field in ("user_email", "user_role", "user_password"):
        assert f'id="{field}-error"' in answer.text
    assert "<b>nobody</b>" not in answer.text and 'value="&lt;b&gt;nobody&lt;/b&gt;"' in answer.text
    twice = admin.post("/console/admin/users/add", {"email": "admin@modu.example", "role": "viewer"})
    assert twice.status_code == 400 and "exists already" in twice.text
    assert admin.post("/console/admin/users/add", {"email": "x" * 2000, "role": "viewer"}).status_code == 400
    assert len(list_users(db)) == 1 and entries(db) == []


def test_the_last_admin_can_neither_be_removed_nor_demoted(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    removed = admin.post("/console/admin/users/remove", {"email": "admin@modu.example"})
    assert removed.status_code == 409 and "is the last admin: add another admin first" in removed.text
    demoted = admin.post("/console/admin/users/role", {"email": "admin@modu.example", "role": "viewer"})
    assert demoted.status_code == 409 and "is the last admin" in demoted.text
    assert [u.role for u in list_users(db)] == [Role.ADMIN] and entries(db) == []


def test_an_admin_sets_roles_and_removes_users(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    console_as(db, web_url, Role.VIEWER)
    assert admin.post("/console/admin/users/role", {"email": "viewer@modu.example", "role": "sender"}).status_code == 303
    assert admin.post("/console/admin/users/role", {"email": "viewer@modu.example", "role": "boss"}).status_code == 400
    assert admin.post("/console/admin/users/remove", {"email": "nobody@modu.example"}).status_code == 404
    assert admin.post("/console/admin/users/remove", {"email": "viewer@modu.example"}).status_code == 303
    assert [u.email for u in list_users(db)] == ["admin@modu.example"]
    assert [(e.action, e.target, e.detail) for e in entries(db)] == [
        ("user-removed", "viewer@modu.example", "sender"),
        ("role-changed", "viewer@modu.example", "sender"),
    ]


def test_a_created_token_is_shown_once_and_works_until_revoked(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    answer = admin.post("/console/admin/tokens/create", {"name": "crm-sync", "scope": ["subscribers:read", "subscribers:write"]})
    assert answer.status_code == 200
    found = SHOWN_ONCE.search(answer.text)
    assert found
    secret = found.group(1)
    info = token_for(db, secret)
    assert info is not None and info.scopes == (Scope.SUBSCRIBERS_READ, Scope.SUBSCRIBERS_WRITE)
    page = admin.get("/console/admin").text
    assert secret not in page
    assert '<th scope="row">crm-sync</th>' in page and "subscribers:read, subscribers:write" in page
    assert admin.post("/console/admin/tokens/revoke", {"name": "crm-sync"}).status_code == 303
    assert token_for(db, secret) is None
    assert admin.post("/console/admin/tokens/revoke", {"name": "crm-sync"}).status_code == 404
    actions = [(e.action, e.target, e.detail) for e in entries(db)]
    assert actions == [("token-revoked", "crm-sync", ""), ("token-created", "crm-sync", "subscribers:read subscribers:write")]
    assert all(secret not in detail for _, _, detail in actions)


def test_bad_token_input_is_shown_next_to_its_field(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    answer = admin.post("/console/admin/tokens/create", {"name": "<script>", "scope": ["everything"]})
    assert answer.status_code == 400
    assert 'id="token_name-error"' in answer.text and 'id="token_scopes-error"' in answer.text
    assert "<script>" not in answer.text.split("<main", 1)[1]
    none = admin.post("/console/admin/tokens/create", {"name": "ok-name"})
    assert none.status_code == 400 and "choose at least one scope" in none.text and 'value="ok-name"' in none.text
    assert list_tokens(db) == [] and entries(db) == []


def test_the_audit_log_filters_by_campaign_and_pages_back(db: Database, web_url: str) -> None:
    admin = console_as(db, web_url, Role.ADMIN)
    someone = Actor(kind="cli")
    for number in range(60):
        log(db, someone, Action.EDITED, campaign_id=7 if number % 2 else 8, target=f"entry-{number}")
    first = admin.get("/console/admin").text
    assert "entry-59" in first and "entry-10" in first and "entry-9<" not in first
    older = re.search(r'href="/console/admin\?before=(\d+)#audit-heading">Older entries', first)
    assert older
    second = admin.get("/console/admin", before=older.group(1)).text
    assert "entry-9<" in second and "entry-0<" in second and "entry-10<" not in second
    only_7 = admin.get("/console/admin", campaign="7").text
    assert "entry-59" in only_7 and "entry-58" not in only_7
    bad = admin.get("/console/admin", campaign="seven")
    assert bad.status_code == 400 and 'id="campaign-error"' in bad.text


def test_every_admin_change_needs_the_admin_role_and_the_csrf_token(db: Database, web_url: str) -> None:
    forms = {
        "/console/admin/users/add": {"email": "new@modu.example", "role": "admin"},
        "/console/admin/users/remove": {"email": "admin@modu.example"},
        "/console/admin/users/role": {"email": "admin@modu.example", "role": "viewer"},
        "/console/admin/tokens/create": {"name": "sneaky", "scope": ["campaigns:send"]},
        "/console/admin/tokens/revoke": {"name": "sneaky"},
    }
    admin = console_as(db, web_url, Role.ADMIN)
    users = [console_as(db, web_url, role) for role in (Role.VIEWER, Role.EDITOR, Role.SENDER)]
    for path, data in forms.items():
        for user in users:
            assert user.post(path, data).status_code == 403, (path, user)
        assert admin.post(path, data, csrf=False).status_code == 403, path
        assert requests.post(web_url + path, data=data, timeout=TIMEOUT, allow_redirects=False).status_code == 403, path
    assert len(list_users(db)) == 4 and list_tokens(db) == [] and entries(db) == []
