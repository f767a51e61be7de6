"""``newsletter users add|list|remove|set-role``: who may sign in to the console, and with which role."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import EXIT_INPUT, cli_settings, command_database, err, fail, out, reported_errors
from publisher.cli.terminal import safe, safe_json, safe_table

if TYPE_CHECKING:
    from publisher.accounts.audit import Action
    from publisher.db.engine import Database

app = typer.Typer(no_args_is_help=True, help="Console users and their roles (viewer, editor, sender, admin).")

Email = Annotated[str, typer.Argument(help="The user's email address: their sign-in name.")]
ROLES = "viewer, editor, sender or admin"


def _audit(db: Database, action: Action, email: str, detail: str = "") -> None:
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR

    audit.log(db, CLI_ACTOR, action, target=email, detail=detail)


def _password_from_stdin() -> str:
    # One line, as `passwd --stdin` and `docker login --password-stdin` read it.
    line = sys.stdin.readline()
    if not line:
        fail("--password-stdin: nothing on standard input", EXIT_INPUT)
    return line.rstrip("\r\n")


@app.command("add")
def users_add(
    email: Email,
    role: Annotated[str, typer.Option(help=f"What the user may do: {ROLES}.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Add a console user; without --password-stdin a password is generated and printed once, on the last line."""
    from publisher.accounts.audit import Action
    from publisher.accounts.passwords import generate_password
    from publisher.accounts.roles import parse_role
    from publisher.accounts.users import add_user

    settings = cli_settings()
    with reported_errors():
        chosen = parse_role(role)
        password = _password_from_stdin() if password_stdin else generate_password()
        with command_database(settings) as db:
            user = add_user(db, email, chosen, password)
            _audit(db, Action.USER_ADDED, user.email, f"role {user.role.value}")
    out.print(f"user {safe(user.email)} added with role {user.role.value}")
    if not password_stdin:
        err.print("password (shown once; it is stored only as an argon2id hash):")
        sys.stderr.flush()
        print(password, flush=True)


@app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List console users with their role and when they were added."""
    from publisher.accounts.users import list_users

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        users = list_users(db)
    if as_json:
        print(safe_json([user.as_dict() for user in users]))
        return
    rows = ([user.email, user.role.value, f"{user.created_at:%Y-%m-%d %H:%M}"] for user in users)
    table = safe_table("Users", ("email", "role", "added"), rows)
    out.print(table)
    out.print(f"{len(users)} user(s)")


@app.command("remove")
def users_remove(email: Email) -> None:
    """Remove a console user (the last admin cannot be removed); their sessions end with them."""
    from publisher.accounts.audit import Action
    from publisher.accounts.users import remove_user

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        user = remove_user(db, email)
        _audit(db, Action.USER_REMOVED, user.email, f"role {user.role.value}")
    out.print(f"user {safe(user.email)} removed")


@app.command("set-role")
def users_set_role(email: Email, role: Annotated[str, typer.Argument(help=f"The new role: {ROLES}.")]) -> None:
    """Change a user's role (the last admin cannot be demoted)."""
    from publisher.accounts.audit import Action
    from publisher.accounts.roles import parse_role
    from publisher.accounts.users import set_role

    settings = cli_settings()
    with reported_errors():
        chosen = parse_role(role)
        with command_database(settings) as db:
            user = set_role(db, email, chosen)
            _audit(db, Action.ROLE_CHANGED, user.email, f"role {user.role.value}")
    out.print(f"user {safe(user.email)} now has role {user.role.value}")
