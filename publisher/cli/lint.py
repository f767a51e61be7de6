"""``newsletter lint RECAP``: the lint report on stdout and an exit code a CI job can branch on."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from publisher.cli.common import cli_settings
from publisher.cli.startup import loading
from publisher.cli.terminal import safe

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_CONTENT = 2

app = typer.Typer()


@app.command()
def lint(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Render RECAP as a subscriber gets it and check it; exit 1 on errors (warnings pass), 2 on bad content."""
    with loading():
        from publisher.content.lint import lint_recap
        from publisher.content.recap import load_recap
        from publisher.core.errors import ContentError, RenderError

    settings = cli_settings()
    try:
        report = lint_recap(settings, load_recap(recap))
    # A recap that cannot be rendered at all (a merge tag in alt text) is bad
    # content too, not a lint finding.
    except (ContentError, RenderError) as exc:
        print(f"error: {safe(exc)}", file=sys.stderr)
        raise typer.Exit(EXIT_CONTENT) from None
    # Findings quote the recap (a link, an element): its text is shown escaped.
    print(json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(safe(line) for line in report.format_text().splitlines()))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_ERRORS)
