"""``newsletter users`` and ``newsletter tokens``: secrets shown once on the last line, bad input exit 2, stored text escaped."""

from __future__ import annotations

import json

import pytest

from publisher.accounts.roles import Scope
from publisher.accounts.tokens import create_token, list_tokens, token_for
from publisher.accounts.users import add_user, authenticate, list_users
from publisher.cli.common import command_database
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Role
from tests.support.cli import run_cli

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
pytestmark = SQLITE_ONLY
PASSWORD = "correct horse battery staple"


def test_users_add_generates_a_password_and_prints_it_alone_on_the_last_line(env: dict[str, str], db: Database) -> None:
    added = run_cli(env, "users", "add", "Ada@Example.com", "--role", "admin")
    assert added.returncode == 0, added.output
    password = added.last_line
    assert len(password) >= 20 and " " not in password
    user = authenticate(db, "ada@example.com", password)
    assert user is not None and user.role is Role.ADMIN


def test_users_add_reads_the_password_from_stdin(env: dict[str, str], db: Database) -> None:
    added = run_cli(env, "users", "add", "bob@example.com", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.output
    assert PASSWORD not in added.output
    assert authenticate(db, "bob@example.com", PASSWORD) is not None


def test_users_add_refuses_a_taken_address_an_unknown_role_and_a_non_address(env: dict[str, str], db: Database) -> None:
    assert run_cli(env, "users", "add", "ada@example.com", "--role", "admin").returncode == 0
    taken = run_cli(env, "users", "add", "ADA@example.com", "--role", "viewer")
    assert taken.returncode == 2 and "exists already" in taken.output
    unknown = run_cli(env, "users", "add", "bob@example.com", "--role", "owner")
    assert unknown.returncode == 2 and "unknown role 'owner'" in unknown.output
    assert [(user.email, user.role) for user in list_users(db)] == [("ada@example.com", Role.ADMIN)]


def test_users_remove_and_set_role_keep_the_last_admin(env: dict[str, str], db: Database) -> None:
    add_user(db, "ada@example.com", Role.ADMIN, PASSWORD)
    add_user(db, "bob@example.com", Role.SENDER, PASSWORD)
    removed = run_cli(env, "users", "remove", "ada@example.com")
    assert removed.returncode == 2 and "last admin" in removed.output
    demoted = run_cli(env, "users", "set-role", "ada@example.com", "viewer")
    assert demoted.returncode == 2 and "last admin" in demoted.output
    assert [(user.email, user.role) for user in list_users(db)] == [("ada@example.com", Role.ADMIN), ("bob@example.com", Role.SENDER)]

    assert run_cli(env, "users", "set-role", "bob@example.com", "admin").returncode == 0
    assert run_cli(env, "users", "remove", "ada@example.com").returncode == 0
    assert [(user.email, user.role) for user in list_users(db)] == [("bob@example.com", Role.ADMIN)]


def test_users_list_prints_a_hostile_address_escaped(env: dict[str, str], db: Database) -> None:
    hostile = "eve\u202e\x9b31m@example.com"
    add_user(db, hostile, Role.VIEWER, PASSWORD)
    add_user(db, "ada@example.com", Role.ADMIN, PASSWORD)
    table = run_cli({**env, "COLUMNS": "200"}, "users", "list")
    as_json = run_cli(env, "users", "list", "--json")
    for listing in (table, as_json):
        assert listing.returncode == 0, listing.output
        assert "\u202e" not in listing.output and "\x9b" not in listing.output
    assert "eve\\u202e\\x9b31m@example.com" in table.output and "│ admin" in table.output
    # JSON's own escapes: a program reading the output gets the stored address exactly.
    listed = json.loads(as_json.output)
    assert [(user["email"], user["role"]) for user in listed] == [("ada@example.com", "admin"), (hostile, "viewer")]


def test_tokens_create_prints_the_token_once_on_the_last_line(env: dict[str, str], db: Database) -> None:
    created = run_cli(env, "tokens", "create", "crm-sync", "--scope", "subscribers:write", "--scope", "campaigns:read")
    assert created.returncode == 0, created.output
    secret = created.last_line
    assert secret.startswith("nlt_") and created.output.count(secret) == 1
    found = token_for(db, secret)
    assert found is not None and {scope.value for scope in found.scopes} == {"subscribers:write", "campaigns:read"}

    listed = run_cli(env, "tokens", "list", "--json")
    assert secret not in listed.output
    (token,) = json.loads(listed.output)
    assert token["name"] == "crm-sync" and token["last_used_at"] is not None
    table = run_cli({**env, "COLUMNS": "200"}, "tokens", "list")
    assert "crm-sync" in table.output and "subscribers:write" in table.output and secret not in table.output


def test_tokens_refuse_a_taken_name_an_unknown_scope_and_a_hostile_name(env: dict[str, str], db: Database) -> None:
    create_token(db, "crm-sync", [Scope.CAMPAIGNS_READ])
    taken = run_cli(env, "tokens", "create", "crm-sync", "--scope", "campaigns:read")
    assert taken.returncode == 2 and "exists already" in taken.output
    unknown = run_cli(env, "tokens", "create", "other", "--scope", "campaigns:delete")
    assert unknown.returncode == 2 and "unknown scope 'campaigns:delete'" in unknown.output
    hostile = run_cli(env, "tokens", "create", "\x1b[2J\x1b]0;owned\x07", "--scope", "campaigns:read")
    assert hostile.returncode == 2 and "is not a token name" in hostile.output
    assert "\x1b" not in hostile.output and "\\x1b" in hostile.output
    assert [token.name for token in list_tokens(db)] == ["crm-sync"]


def test_tokens_revoke(env: dict[str, str], db: Database) -> None:
    _, secret = create_token(db, "crm-sync", [Scope.CAMPAIGNS_READ])
    assert run_cli(env, "tokens", "revoke", "crm-sync").returncode == 0
    assert token_for(db, secret) is None
    unknown = run_cli(env, "tokens", "revoke", "crm-sync")
    assert unknown.returncode == 2 and "no token named crm-sync" in unknown.output


def test_a_commands_database_is_disposed_when_the_command_ends(settings: Settings) -> None:
    with command_database(settings) as db:
        list_users(db)
        assert db.engine.pool.checkedin() == 1  # type: ignore[attr-defined]  # the pool keeps the connection open meanwhile
    assert db.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
