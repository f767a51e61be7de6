"""``newsletter preview RECAP``: the exact HTML a subscriber would get, and the lint summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from publisher.cli.common import cli_settings, err, reported_errors, sendable_address
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def preview(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML.")],
    subscriber: Annotated[str | None, typer.Option(help="Address to render for (sample subscriber by default).")] = None,
    list_name: Annotated[str, typer.Option("--list", help="List name shown in the footer.")] = "subscribers",
) -> None:
    """Write the exact HTML a subscriber would get; needs no Redis and no database."""
    from publisher.audience.lists import check_list_name
    from publisher.content.preview import SampleSubscriber
    from publisher.content.preview import preview as render_preview
    from publisher.content.recap import load_recap

    settings = cli_settings()
    with reported_errors():
        list_name = check_list_name(list_name)
        loaded = load_recap(recap)
        sample = SampleSubscriber(email=sendable_address(subscriber), first_name="", last_name="") if subscriber else SampleSubscriber()
        html, _text = render_preview(settings, loaded, sample, list_name)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    err.print(f"wrote {output} ({len(html.encode()) / 1024:.1f} KB)")
    from publisher.content.lint import lint_recap

    findings = lint_recap(settings, loaded)
    for finding in findings.errors + findings.warnings:
        err.print(safe(f"lint {finding.severity.value}: {finding.check}: {finding.message}"), soft_wrap=True)
    err.print(f"lint: {len(findings.errors)} error(s), {len(findings.warnings)} warning(s)")
