"""``newsletter demo``: the whole pipeline on embedded defaults (see ``demo_run``); ``--serve`` keeps the web app up after."""

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
    serve: Annotated[bool, typer.Option("--serve", help="Then keep the web app up, with a demo admin account, until Ctrl-C.")] = False,
    host: Annotated[str, typer.Option(help="With --serve: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: port to listen on.")] = 8000,
) -> None:
    """Import the example subscribers, publish the Modu recap and deliver it to the outbox."""
    from publisher.cli.demo_run import run_demo, serve_demo
    from publisher.cli.web_server import Listen

    def report(line: str) -> None:
        out.print(safe(line), soft_wrap=True)

    with reported_errors():
        if serve:
            serve_demo(directory, Listen(host, port, proxy_headers=False), report)
            return
        run_demo(directory, report)
    report("nothing left running")
    report("`newsletter demo --serve` runs the same demo, then keeps the web app up with a demo admin account:")
    report("click through /console and the subscriber links of these emails")
