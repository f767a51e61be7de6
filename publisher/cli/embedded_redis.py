"""``newsletter redis start|stop|status``: the embedded Redis used when NEWSLETTER_REDIS_URL is unset."""

from __future__ import annotations

from collections.abc import Callable

import typer

from publisher.cli.common import cli_settings, out, reported_errors

app = typer.Typer(no_args_is_help=True, help="Control the embedded Redis (used when NEWSLETTER_REDIS_URL is unset).")


@app.command("start")
def redis_start() -> None:
    """Start the embedded Redis (it keeps running until `newsletter redis stop`)."""
    _embedded(lambda embedded: "started" if embedded.start() else "already running")


@app.command("stop")
def redis_stop() -> None:
    """Stop the embedded Redis."""
    _embedded(lambda embedded: "stopped" if embedded.stop() else "not running")


@app.command("status")
def redis_status() -> None:
    """Say whether the embedded Redis is running."""
    _embedded(lambda embedded: "running" if embedded.is_running() else "not running")


def _embedded(action: Callable[..., str]) -> None:
    from publisher.core.broker import EmbeddedRedis

    settings = cli_settings()
    embedded = EmbeddedRedis(settings.data_dir)
    with reported_errors():
        out.print(f"embedded Redis at {embedded.url}: {action(embedded)}")
