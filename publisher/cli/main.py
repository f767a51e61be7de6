"""The ``newsletter`` command: the root of every command, each module loaded only when its command is used.

Each module of this package defines one command or one group, with its own
``app``; this root only names them, so no command module imports the root and
the order of ``COMMANDS`` is the order of ``newsletter --help``. A command's
module is imported when that command runs or its help is shown (``newsletter
--help`` shows every command's summary, so it imports them all): ``newsletter
publish`` does not pay for the database models of ``lists``, the renderer of
``preview`` or the providers. Command modules keep their heavy imports inside
the commands as well. Exit codes are documented in :mod:`publisher.cli.common`.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import typer
from typer._click import Command, Context
from typer.core import TyperGroup

from publisher.cli.startup import loading


class Entry(NamedTuple):
    """Where a command is: its module in this package, the Typer app there, and whether that app is a group."""

    module: str
    app: str = "app"
    group: bool = False


#: Every command and group of ``newsletter``, in the order of --help. A command
#: module's app may hold several commands (``control`` has pause, resume, ...).
COMMANDS: dict[str, Entry] = {
    "publish": Entry("publish"),
    "send": Entry("send"),
    "resend": Entry("resend"),
    "approve": Entry("approve"),
    "pick-winner": Entry("pick_winner"),
    "worker": Entry("worker"),
    "ping-worker": Entry("worker"),
    "status": Entry("status"),
    "preview": Entry("preview"),
    "lint": Entry("lint"),
    "demo": Entry("demo"),
    "pause": Entry("control"),
    "resume": Entry("control"),
    "cancel": Entry("control"),
    "reconcile": Entry("control"),
    "beat": Entry("services"),
    "flower": Entry("services"),
    "serve": Entry("services"),
    "report": Entry("report"),
    "audit": Entry("audit_log"),
    # Groups.
    "subscribers": Entry("subscribers", group=True),
    "users": Entry("users", group=True),
    "tokens": Entry("tokens", group=True),
    "redis": Entry("embedded_redis", group=True),
    "providers": Entry("providers", group=True),
    "dlq": Entry("control", app="dlq_app", group=True),
    "lists": Entry("lists", group=True),
    "events": Entry("events", group=True),
    "recap": Entry("recap", group=True),
    "suppressions": Entry("suppressions", group=True),
    "webhooks": Entry("webhooks", group=True),
}


def load_command(name: str) -> Command:
    """The click command ``name``, built from its module exactly as if it had been added to the root."""
    entry = COMMANDS[name]
    module_app = getattr(importlib.import_module(f"publisher.cli.{entry.module}"), entry.app)
    holder = typer.Typer(add_completion=False)
    holder.add_typer(module_app, name=name if entry.group else None)
    command = typer.main.get_group(holder).commands.get(name)
    if command is None:
        raise LookupError(f"publisher.cli.{entry.module}.{entry.app} has no command {name!r}")
    return command


class LazyCommands(TyperGroup):
    """The root group: lists the commands of ``COMMANDS`` and imports a command's module on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            with loading():
                self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, add_completion=False, help="Event recaps in, newsletters out.")


@app.callback()
def newsletter() -> None:
    """Event recaps in, newsletters out."""


def main() -> None:
    app()
