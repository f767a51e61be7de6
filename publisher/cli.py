"""The ``newsletter`` command.

Exit codes: 0 success; 1 an operation did not finish (``status --wait`` timed
out); 2 bad input (recap, CSV file, unknown list or campaign, bad option);
3 a service or setting is missing (Redis or the database unreachable, provider
credentials).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from publisher.errors import BrokerUnavailableError, ConfigurationError, DatabaseUnavailableError, NewsletterError
from publisher.settings import Settings
from publisher.terminal import safe

if TYPE_CHECKING:
    from publisher.db.engine import Database
    from publisher.status import CampaignProgress
    from publisher.status_view import StatusReport

EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_UNAVAILABLE = 3
WAIT_POLL = 0.5

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Event recaps in, newsletters out.")
subscribers_app = typer.Typer(no_args_is_help=True, help="Manage subscribers.")
redis_app = typer.Typer(no_args_is_help=True, help="Control the embedded Redis (used when NEWSLETTER_REDIS_URL is unset).")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(redis_app, name="redis")

# Markup and emoji codes off: printed text often holds stored data (a title,
# a bounce text), and "[bold]" or ":warning:" in it must print as typed.
# Stored text goes through publisher.terminal.safe first.
err = Console(stderr=True, highlight=False, markup=False, emoji=False)
out = Console(highlight=False, markup=False, emoji=False)


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(safe(message))}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the project's errors into a message and the documented exit code."""
    try:
        yield
    except (BrokerUnavailableError, DatabaseUnavailableError, ConfigurationError) as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except NewsletterError as exc:
        fail(str(exc), EXIT_INPUT)


def _settings() -> Settings:
    from pydantic import ValidationError

    from publisher.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(f"invalid configuration: {problems}", EXIT_UNAVAILABLE)


def _variable(loc: tuple[int | str, ...]) -> str:
    # A field with an alias (from_address is NEWSLETTER_FROM) is reported under the alias, already the variable.
    name = "_".join(map(str, loc)).upper()
    return name if name.startswith("NEWSLETTER_") else f"NEWSLETTER_{name}"


@app.command()
def publish(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file with YAML front matter.")],
    list_name: Annotated[str | None, typer.Option("--list", help="List to send to.")] = None,
    send_at: Annotated[str | None, typer.Option(help="ISO 8601 time to send at (no offset means UTC).")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider for this campaign (default: NEWSLETTER_PROVIDER).")] = None,
    test_to: Annotated[str | None, typer.Option(help="Send one copy, marked as a test, to this address only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Publish even when lint finds errors.")] = False,
) -> None:
    """Create a campaign from RECAP, freeze its audience and enqueue its delivery."""
    from publisher.publish import PublishOptions, run_publish

    settings = _settings()
    if list_name is None and test_to is None:
        fail("--list NAME is required (or --test-to EMAIL for a test send)", EXIT_INPUT)
    with reported_errors():
        options = PublishOptions(
            recap=recap,
            list_name=list_name,
            send_at=_parse_time(send_at) if send_at else None,
            provider=provider or settings.provider,
            test_to=_address(test_to) if test_to else None,
            force=force,
        )
        result = run_publish(settings, options, report=lambda line: err.print(safe(line), soft_wrap=True))
    sys.stderr.flush()
    print(f"campaign {result.id}", flush=True)


def _parse_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--send-at {value!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00+00:00)", EXIT_INPUT)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _address(value: str) -> str:
    from publisher.subscribers import UnsendableAddressError, sendable_email

    try:
        return sendable_email(value)
    except UnsendableAddressError as exc:
        fail(f"{value!r}: {exc}", EXIT_INPUT)
    except ValueError as exc:
        fail(f"{value!r} is not a valid email address: {exc}", EXIT_INPUT)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Run a Celery worker in the foreground on every queue (extra options go to Celery)."""
    settings = _settings()
    if settings.metrics_port:
        _prepare_metrics(settings)
    from publisher.broker import check_reachable, redis_url
    from publisher.db.engine import open_database
    from workers.celery_app import QUEUES, configure
    from workers.context import check_worker_configuration

    with reported_errors():
        check_worker_configuration(settings)
        url = redis_url(settings)
        check_reachable(url)
        open_database(settings.resolved_database_url).dispose()  # migrate before the pool forks
    celery = configure(settings, url)
    import workers.sweeper  # noqa: F401  (registers the sweeper on worker start)

    if settings.metrics_port:
        from workers import metrics

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

    from publisher.private_files import private_directory

    directory = (settings.data_dir / "metrics" / str(os.getpid())).resolve()
    shutil.rmtree(directory, ignore_errors=True)
    private_directory(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@app.command()
def status(
    campaign_id: Annotated[int | None, typer.Argument(help="One campaign; all recent ones when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wait: Annotated[bool, typer.Option(help="Block until no delivery is pending or sending.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait may block before exiting 1.")] = 300.0,
) -> None:
    """Show delivery counts by state for campaigns, and the Redis queue depth."""
    from publisher.db.engine import open_database
    from publisher.status import campaign_progress
    from publisher.status_view import StatusReport, show

    settings = _settings()
    if wait and campaign_id is None:
        fail("--wait needs a CAMPAIGN_ID", EXIT_INPUT)
    with reported_errors():
        db = open_database(settings.resolved_database_url)
        progress = campaign_progress(db, campaign_id)
        deadline = time.monotonic() + timeout
        while wait and not progress[0].finished:
            if time.monotonic() >= deadline:
                show(out, StatusReport(campaigns=progress), as_json=as_json)
                fail(f"campaign {campaign_id} still has {progress[0].open} deliveries open after {timeout:g}s", EXIT_FAILED)
            time.sleep(WAIT_POLL)
            progress = campaign_progress(db, campaign_id)
        show(out, _status_report(settings, db, progress, campaign_id), as_json=as_json)


def _status_report(settings: Settings, db: Database, progress: list[CampaignProgress], campaign_id: int | None) -> StatusReport:
    import redis

    from publisher.broker import EmbeddedRedis, connect
    from publisher.status import in_doubt, provider_health, queue_depth
    from publisher.status_view import StatusReport
    from workers.celery_app import QUEUES

    report = StatusReport(campaigns=progress)
    if campaign_id is not None:
        report.in_doubt = in_doubt(db, campaign_id)
    url = settings.redis_url or EmbeddedRedis(settings.data_dir).url
    try:
        client = connect(url)
        report.queues = queue_depth(client, QUEUES)
        providers = {settings.provider, *(c.provider for c in progress if c.provider)}
        if settings.fallback_provider:
            providers.add(settings.fallback_provider)
        report.providers = provider_health(client, settings, providers)
    except (redis.RedisError, OSError):
        report.queues = None
    return report


@app.command()
def preview(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML.")],
    subscriber: Annotated[str | None, typer.Option(help="Address to render for (sample subscriber by default).")] = None,
    list_name: Annotated[str, typer.Option("--list", help="List name shown in the footer.")] = "subscribers",
) -> None:
    """Write the exact HTML a subscriber would get; needs no Redis and no database."""
    from publisher.content import load_recap
    from publisher.mailing_lists import check_list_name
    from publisher.preview import SampleSubscriber
    from publisher.preview import preview as render_preview

    settings = _settings()
    with reported_errors():
        list_name = check_list_name(list_name)
        loaded = load_recap(recap)
        sample = SampleSubscriber(email=_address(subscriber), first_name="", last_name="") if subscriber else SampleSubscriber()
        html, _text = render_preview(settings, loaded, sample, list_name)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    err.print(f"wrote {output} ({len(html.encode()) / 1024:.1f} KB)")
    from publisher.lint import lint_recap

    findings = lint_recap(settings, loaded)
    for finding in findings.errors + findings.warnings:
        err.print(safe(f"lint {finding.severity.value}: {finding.check}: {finding.message}"), soft_wrap=True)
    err.print(f"lint: {len(findings.errors)} error(s), {len(findings.warnings)} warning(s)")


@app.command()
def lint(
    recap: Annotated[Path, typer.Argument(help="Recap Markdown file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Render RECAP as a subscriber gets it and check it; exit 1 on errors (warnings pass), 2 on bad content."""
    from publisher.lint.command import lint as run_lint

    raise typer.Exit(run_lint(recap, as_json, settings=_settings()))


@subscribers_app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV with columns email, first_name, last_name, …")],
    list_name: Annotated[str, typer.Option("--list", help="List to add them to (created if new).")],
) -> None:
    """Import subscribers (confirmed) from a UTF-8 CSV file; invalid rows are reported and skipped."""
    from publisher.db.engine import open_database
    from publisher.subscribers import import_subscribers

    settings = _settings()
    with reported_errors():
        report = import_subscribers(open_database(settings.resolved_database_url, settings.secret_keys), csv_file, list_name)
    for problem in report.problems:
        err.print(safe(f"{csv_file}:{problem.line}: skipped: {problem.reason}"), soft_wrap=True)
    summary = f"list '{safe(list_name)}': {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
    if report.kept_unsubscribed:
        summary += f", {report.kept_unsubscribed} kept unsubscribed"
    out.print(summary + f", {len(report.problems)} skipped")


@redis_app.command("start")
def redis_start() -> None:
    """Start the embedded Redis (it keeps running until `newsletter redis stop`)."""
    _embedded(lambda embedded: "started" if embedded.start() else "already running")


@redis_app.command("stop")
def redis_stop() -> None:
    """Stop the embedded Redis."""
    _embedded(lambda embedded: "stopped" if embedded.stop() else "not running")


@redis_app.command("status")
def redis_status() -> None:
    """Say whether the embedded Redis is running."""
    _embedded(lambda embedded: "running" if embedded.is_running() else "not running")


def _embedded(action: Callable[..., str]) -> None:
    from publisher.broker import EmbeddedRedis

    settings = _settings()
    embedded = EmbeddedRedis(settings.data_dir)
    with reported_errors():
        out.print(f"embedded Redis at {embedded.url}: {action(embedded)}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the demo keeps its state (wiped first).")] = Path("var/demo"),
) -> None:
    """Import the example subscribers, publish the Modu recap and deliver it to the outbox."""
    from publisher.demo import run_demo

    with reported_errors():
        run_demo(directory, report=lambda line: out.print(safe(line), soft_wrap=True))


providers_app = typer.Typer(no_args_is_help=True, help="Check the email providers' settings and credentials.")
app.add_typer(providers_app, name="providers")


@providers_app.command("check")
def providers_check(
    name: Annotated[str | None, typer.Argument(help="Provider to check (default: NEWSLETTER_PROVIDER and the fallback).")] = None,
) -> None:
    """Check settings and credentials without sending anything; exit 3 when a check fails."""
    from publisher.providers_check import check_providers

    results = check_providers(_settings(), name)
    for result in results:
        out.print(safe(result.line()), soft_wrap=True)
    if not all(result.ok for result in results):
        raise typer.Exit(EXIT_UNAVAILABLE)


def main() -> None:
    app()


# Registers the campaign control commands on `app`; imported last because it
# uses the helpers above.
import publisher.cli_control  # noqa: E402
import publisher.cli_services  # noqa: E402, F401
from publisher import cli_lists  # noqa: E402, F401

# isort: split
from publisher import cli_privacy, cli_report, cli_suppressions  # noqa: E402, F401
