"""``newsletter status --watch``: the status report redrawn in place until Ctrl-C, or until the watched campaign is done.

Exit codes: 0 when the watched campaign has nothing pending or sending; 130
(128 + SIGINT, as shells report it) when the operator stops the watch with
Ctrl-C. Either way the last view stays on the screen.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from publisher.cli.status_report import StatusReport, render

#: What the shell reports for a command stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


def watch(console: Console, read: Callable[[], StatusReport], *, campaign_id: int | None, interval: float) -> None:
    """Redraw ``read()``'s report every ``interval`` seconds; return when ``campaign_id`` has finished."""
    what = f"campaign {campaign_id}" if campaign_id is not None else "recent campaigns"
    try:
        report = read()
        with Live(_view(report, console), console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
            # Printed once the view is live: from here on, Ctrl-C leaves the last view on the screen.
            console.print(f"watching {what} every {interval:g}s; Ctrl-C stops", highlight=False)
            while campaign_id is None or not report.campaigns[0].finished:
                time.sleep(interval)
                report = read()
                live.update(_view(report, console), refresh=True)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _view(report: StatusReport, console: Console) -> Group:
    stamp = Text(f"as of {dt.datetime.now(dt.UTC):%H:%M:%S} UTC", style="dim")
    return Group(render(report, console.width), stamp)
