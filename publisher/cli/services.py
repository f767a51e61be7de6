"""Long-running companions of the workers: celery beat and Flower."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import cli_settings, reported_errors

app = typer.Typer()


if TYPE_CHECKING:
    from celery import Celery

    from publisher.core.settings import Settings


def _configured_app() -> tuple[Settings, Celery]:
    from publisher.core.broker import check_reachable, redis_url
    from workers.celery_app import configure

    settings = cli_settings()
    with reported_errors():
        url = redis_url(settings)
        check_reachable(url, settings.redis_sentinel_master)
    return settings, configure(settings, url)


@app.command()
def beat() -> None:
    """Run celery beat: the periodic sweep as a task (optional: every worker also sweeps by itself)."""
    from publisher.core.private_files import private_directory

    settings, celery = _configured_app()
    schedule = settings.data_dir / "celerybeat-schedule"
    private_directory(schedule.parent)
    celery.start(["beat", "--loglevel=INFO", f"--schedule={schedule}"])


@app.command()
def flower(port: Annotated[int, typer.Option(help="Port of the dashboard and its Prometheus /metrics.")] = 5555) -> None:
    """Run Flower, the Celery dashboard, on the project's broker (needs the `ops` extra)."""
    _, celery = _configured_app()
    celery.start(["flower", f"--port={port}"])


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    proxy_headers: Annotated[bool, typer.Option(help="Trust X-Forwarded-Proto/For from NEWSLETTER_TRUSTED_PROXIES.")] = True,
) -> None:
    """Run the web app: the console, the HTTP API, subscriber links, sign-up, archive, provider webhooks, /docs."""
    from publisher.cli.web_server import Listen, serve_web

    settings = cli_settings()
    with reported_errors():
        serve_web(settings, Listen(host, port, proxy_headers))
