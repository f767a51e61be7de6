"""``newsletter providers check``: settings and credentials, checked without sending anything."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli.common import EXIT_UNAVAILABLE, cli_settings, out
from publisher.cli.terminal import safe

app = typer.Typer(no_args_is_help=True, help="Check the email providers' settings and credentials.")


@app.command("check")
def providers_check(
    name: Annotated[str | None, typer.Argument(help="Provider to check (default: NEWSLETTER_PROVIDER and the fallback).")] = None,
) -> None:
    """Check settings and credentials without sending anything; exit 3 when a check fails."""
    from publisher.cli.provider_checks import check_providers

    results = check_providers(cli_settings(), name)
    for result in results:
        out.print(safe(result.line()), soft_wrap=True)
    if not all(result.ok for result in results):
        raise typer.Exit(EXIT_UNAVAILABLE)
