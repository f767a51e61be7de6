"""``newsletter worker``: a Celery worker on every queue, with its sweeper and metrics."""

from __future__ import annotations

import os
from typing import Annotated

import click
import typer

from publisher.cli.common import EXIT_FAILED, cli_settings, fail, out, reported_errors
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
    # Celery's worker command itself, as `celery worker` runs it, but not
    # through Celery's root command: that one imports every other command
    # and the installed plugins (an interactive shell, Flower's web server),
    # about 11 MB that every process of every worker would hold.
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker as celery_worker

    obj = CLIContext(app=celery, no_color=bool(os.environ.get("NO_COLOR")), workdir=None)
    try:
        # Not standalone: Celery's command returns the worker's exit code instead of exiting itself.
        code = celery_worker.main([*defaults, *ctx.args], prog_name="newsletter worker", obj=obj, standalone_mode=False)
    except click.ClickException as exc:  # a bad option or value: usage and the reason, no traceback
        exc.show()
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(_exit_code(code))


@app.command("ping-worker")
def ping_worker(
    name: Annotated[
        str | None,
        typer.Option("--name", help="The worker node name, as given to -n (%h: this host); celery@<this host> when omitted."),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, max=60, help="Seconds to wait for the answer.")] = 5.0,
) -> None:
    """Ask a worker, through the broker, whether it is taking tasks: exit 0 when it answers, 1 when it does not.

    The readiness check of a worker (its compose healthcheck): the answer comes
    from the worker's main process once it consumes the queues, over the same
    Redis the tasks come through. Redis unreachable exits 3.
    """
    from celery.utils.nodenames import default_nodename, host_format

    from publisher.core.broker import check_reachable, redis_url
    from workers.celery_app import configure

    settings = cli_settings()
    node = host_format(default_nodename(name))
    with reported_errors():
        url = redis_url(settings, start=False)
        check_reachable(url, settings.redis_sentinel_master)
    replies = configure(settings, url).control.ping(destination=[node], timeout=timeout)
    if not any(node in reply for reply in replies):
        fail(f"worker {node} did not answer within {timeout:g}s", EXIT_FAILED)
    out.print(f"worker {node} is ready")


def _exit_code(code: object) -> int:
    """The process exit code for what the worker ended with: None is a clean stop; a message (a SystemExit's) is a failure."""
    if code is None or isinstance(code, int):
        return code or 0
    return EXIT_FAILED


def _prepare_metrics(settings: Settings) -> None:
    # prometheus_client picks its multiprocess mode when first imported: the
    # directory is set here, before anything of the workers is imported.
    import shutil

    from publisher.core.private_files import private_directory

    directory = (settings.data_dir / "metrics" / str(os.getpid())).resolve()
    shutil.rmtree(directory, ignore_errors=True)
    private_directory(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
