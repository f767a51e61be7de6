"""Console users and API tokens in the ledger: argon2id passwords, hashed tokens, the last admin kept."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from publisher.accounts.roles import AccountError, Scope, parse_role, parse_scopes
from publisher.accounts.tokens import create_token, list_tokens, revoke_token, token_for
from publisher.accounts.users import UserInfo, add_user, authenticate, list_users, remove_user, set_role
from publisher.core.errors import NotFoundError
from publisher.db.engine import Database
from publisher.db.models import ApiToken, Role, User
from tests.support.waiting import wait_until, waiting_on_locks

PASSWORD = "correct horse battery staple"


def stored_values(db: Database, model: type[User] | type[ApiToken]) -> list[str]:
    """Every column of every row of ``model``'s table, as text."""
    with db.transaction() as session:
        rows = session.execute(select(model.__table__)).all()
    return [str(value) for row in rows for value in row]


def test_a_password_is_stored_only_as_an_argon2id_hash(db: Database) -> None:
    add_user(db, "Ada@Example.com ", Role.EDITOR, PASSWORD)
    with db.transaction() as session:
        user = session.scalar(select(User))
        assert user is not None
        assert user.email == "ada@example.com"
        assert user.password_hash.startswith("$argon2id$")
    assert not any(PASSWORD in value for value in stored_values(db, User))
    signed_in = authenticate(db, "ADA@example.com", PASSWORD)
    assert signed_in is not None and signed_in.role is Role.EDITOR
    assert authenticate(db, "ada@example.com", PASSWORD + "!") is None
    assert authenticate(db, "nobody@example.com", PASSWORD) is None


def test_a_short_password_and_an_address_taken_already_are_refused(db: Database) -> None:
    with pytest.raises(AccountError, match="too short"):
        add_user(db, "ada@example.com", Role.ADMIN, "short")
    add_user(db, "ada@example.com", Role.ADMIN, PASSWORD)
    with pytest.raises(AccountError, match="exists already"):
        add_user(db, "ADA@example.com", Role.VIEWER, PASSWORD)
    assert [(user.email, user.role) for user in list_users(db)] == [("ada@example.com", Role.ADMIN)]


def test_the_last_admin_can_be_neither_removed_nor_demoted(db: Database) -> None:
    add_user(db, "ada@example.com", Role.ADMIN, PASSWORD)
    add_user(db, "bob@example.com", Role.SENDER, PASSWORD)
    with pytest.raises(AccountError, match="last admin"):
        remove_user(db, "ada@example.com")
    with pytest.raises(AccountError, match="last admin"):
        set_role(db, "ada@example.com", Role.EDITOR)
    set_role(db, "bob@example.com", Role.ADMIN)
    set_role(db, "ada@example.com", Role.VIEWER)
    remove_user(db, "ada@example.com")
    assert [(user.email, user.role) for user in list_users(db)] == [("bob@example.com", Role.ADMIN)]
    with pytest.raises(NotFoundError):
        remove_user(db, "ada@example.com")


def test_roles_and_scopes_are_read_from_their_names_only() -> None:
    assert parse_role(" Admin ") is Role.ADMIN
    with pytest.raises(AccountError, match="unknown role 'owner'"):
        parse_role("owner")
    assert parse_scopes(["campaigns:read", "campaigns:read", "subscribers:write"]) == [Scope.CAMPAIGNS_READ, Scope.SUBSCRIBERS_WRITE]
    with pytest.raises(AccountError, match="unknown scope"):
        parse_scopes(["campaigns:delete"])
    with pytest.raises(AccountError, match="at least one"):
        parse_scopes([])


def test_a_token_is_stored_hashed_found_by_its_secret_and_gone_once_revoked(db: Database) -> None:
    info, secret = create_token(db, "crm-sync", [Scope.SUBSCRIBERS_WRITE])
    assert secret.startswith("nlt_") and len(secret) > 40
    assert not any(secret in value or secret[4:] in value for value in stored_values(db, ApiToken))
    found = token_for(db, secret)
    assert found is not None and found.name == "crm-sync" and found.scopes == (Scope.SUBSCRIBERS_WRITE,)
    assert found.last_used_at is not None
    assert token_for(db, secret[:-1]) is None
    assert [token.name for token in list_tokens(db)] == [info.name]
    revoke_token(db, "crm-sync")
    assert token_for(db, secret) is None
    assert list_tokens(db) == []
    with pytest.raises(NotFoundError):
        revoke_token(db, "crm-sync")


def test_token_names_are_unique_and_plain(db: Database) -> None:
    create_token(db, "crm-sync", [Scope.CAMPAIGNS_READ])
    with pytest.raises(AccountError, match="exists already"):
        create_token(db, "crm-sync", [Scope.CAMPAIGNS_READ])
    for hostile in ("\x1b[2Jwipe", "two words", "", "x" * 101):
        with pytest.raises(AccountError, match="is not a token name"):
            create_token(db, hostile, [Scope.CAMPAIGNS_READ])
    assert [token.name for token in list_tokens(db)] == ["crm-sync"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("change", [remove_user, lambda db, email: set_role(db, email, Role.VIEWER)], ids=["remove", "demote"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(db: Database, change: Callable[[Database, str], UserInfo]) -> None:
    """Each change counts the other admins; under READ COMMITTED neither saw the other's change until both locked every admin."""
    admins = ["ada@example.com", "grace@example.com"]
    for email in admins:
        add_user(db, email, Role.ADMIN, PASSWORD)
    results: list[UserInfo | BaseException] = []

    def act(email: str) -> None:
        try:
            results.append(change(db, email))
        except BaseException as exc:  # the test asserts which one below
            results.append(exc)

    # Both changes wait here for the admins' rows, then go at once.
    with db.engine.connect() as connection, connection.begin() as held:
        connection.execute(select(User.id).where(User.role == Role.ADMIN).with_for_update())
        threads = [threading.Thread(target=act, args=(email,)) for email in admins]
        for thread in threads:
            thread.start()
        wait_until(lambda: waiting_on_locks(db) == 2)
        held.rollback()
    for thread in threads:
        thread.join(timeout=60)

    assert len([r for r in results if isinstance(r, UserInfo)]) == 1, results
    assert len([r for r in results if isinstance(r, AccountError) and "last admin" in str(r)]) == 1, results
    assert [user.role for user in list_users(db)].count(Role.ADMIN) == 1
