"""The ``newsletter`` command: builds the Typer app and registers every command module.

Each module of this package defines one command or one group, with its own
``app``; this root only puts them together, so no command module imports the
root and the order below is the order of ``newsletter --help``. Command
modules keep their heavy imports inside the commands: ``newsletter --help``
and ``newsletter status`` do not pay for rendering or the providers.
Exit codes are documented in :mod:`publisher.cli.common`.
"""

from __future__ import annotations

import typer

from publisher.cli import (
    approve,
    audit_log,
    control,
    demo,
    embedded_redis,
    events,
    lint,
    lists,
    preview,
    providers,
    publish,
    recap,
    report,
    send,
    services,
    status,
    subscribers,
    suppressions,
    tokens,
    users,
    worker,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Event recaps in, newsletters out.")

# Commands, in the order of --help.
for module in (publish, send, approve, worker, status, preview, lint, demo, control, services, report, audit_log):
    app.add_typer(module.app)

# Groups.
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(embedded_redis.app, name="redis")
app.add_typer(providers.app, name="providers")
app.add_typer(control.dlq_app, name="dlq")
app.add_typer(lists.app, name="lists")
app.add_typer(events.app, name="events")
app.add_typer(recap.app, name="recap")
app.add_typer(suppressions.app, name="suppressions")


def main() -> None:
    app()
