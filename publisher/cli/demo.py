"""``newsletter demo``: the whole pipeline on embedded defaults (see ``demo_run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from publisher.cli.common import out, reported_errors
from publisher.cli.terminal import safe

app = typer.Typer()


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the demo keeps its state (wiped first).")] = Path("var/demo"),
) -> None:
    """Import the example subscribers, publish the Modu recap and deliver it to the outbox."""
    from publisher.cli.demo_run import run_demo

    with reported_errors():
        run_demo(directory, report=lambda line: out.print(safe(line), soft_wrap=True))
