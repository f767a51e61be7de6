"""``newsletter tokens create|list|revoke``: bearer tokens for the HTTP API, with scopes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli.common import cli_settings, command_database, err, out, reported_errors
from publisher.cli.terminal import safe, safe_json, safe_table

app = typer.Typer(no_args_is_help=True, help="API tokens: created with scopes, shown once, revoked by name.")

Name = Annotated[str, typer.Argument(help="The token's name (letters, digits, '.', '_', '-').")]
SCOPES = "campaigns:read, campaigns:write, campaigns:send, subscribers:read, subscribers:write"


@app.command("create")
def tokens_create(
    name: Name,
    scope: Annotated[list[str], typer.Option("--scope", help=f"What the token may do (repeat for more): {SCOPES}.")],
) -> None:
    """Create a token; it is printed once, alone on the last line, and stored only as its SHA-256."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR, parse_scopes
    from publisher.accounts.tokens import create_token

    settings = cli_settings()
    with reported_errors():
        scopes = parse_scopes(scope)
        with command_database(settings) as db:
            info, secret = create_token(db, name, scopes)
            granted = ", ".join(s.value for s in info.scopes)
            audit.log(db, CLI_ACTOR, audit.Action.TOKEN_CREATED, target=info.name, detail=granted)
    err.print(safe(f"token {info.name} created with scope(s) {granted}; it is shown once:"), soft_wrap=True)
    sys.stderr.flush()
    print(secret, flush=True)


@app.command("list")
def tokens_list(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List tokens: name, scopes, when created and last used (never the token itself)."""
    from publisher.accounts.tokens import list_tokens

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        tokens = list_tokens(db)
    if as_json:
        print(safe_json([token.as_dict() for token in tokens]))
        return
    rows = (
        [
            token.name,
            " ".join(s.value for s in token.scopes),
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
        ]
        for token in tokens
    )
    table = safe_table("API tokens", ("name", "scopes", "created", "last used"), rows)
    out.print(table)
    out.print(f"{len(tokens)} token(s)")


@app.command("revoke")
def tokens_revoke(name: Name) -> None:
    """Revoke a token: the API refuses it from the next request."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.accounts.tokens import revoke_token

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        revoke_token(db, name)
        audit.log(db, CLI_ACTOR, audit.Action.TOKEN_REVOKED, target=name)
    out.print(f"token {safe(name)} revoked")
