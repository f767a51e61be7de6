"""``newsletter worker``: a Celery worker on every queue, with its sweeper and metrics."""

from __future__ import annotations

import typer

from publisher.cli.common import cli_settings, reported_errors
from publisher.core.settings import Settings

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Run a Celery worker in the foreground on every queue (extra options go to Celery)."""
    settings = cli_settings()
    if settings.metrics_port:
        _prepare_metrics(settings)
    from publisher.core.broker import check_reachable, redis_url
    from publisher.db.engine import open_database
    from publisher.queue import QUEUES
    from workers.celery_app import check_worker_configuration, configure

    with reported_errors():
        check_worker_configuration(settings)
        url = redis_url(settings)
        check_reachable(url, settings.redis_sentinel_master)
        open_database(settings.resolved_database_url).dispose()  # migrate before the pool forks
    celery = configure(settings, url)
    import workers.sweeper  # noqa: F401  (registers the sweeper on worker start)

    if settings.metrics_port:
        from workers.delivery import metrics

        metrics.serve(settings.metrics_port)
    # Mingle and gossip sync revokes between workers; the ledger makes them
    # unnecessary and they add a second to every start. Task events feed Flower.
    defaults = ["--loglevel=INFO", f"--queues={','.join(QUEUES)}", "--without-mingle", "--without-gossip", "--task-events"]
    celery.worker_main(["worker", *defaults, *ctx.args])


def _prepare_metrics(settings: Settings) -> None:
    # prometheus_client picks its multiprocess mode when first imported: the
    # directory is set here, before anything of the workers is imported.
    import os
    import shutil

    from publisher.core.private_files import private_directory

    directory = (settings.data_dir / "metrics" / str(os.getpid())).resolve()
    shutil.rmtree(directory, ignore_errors=True)
    private_directory(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
