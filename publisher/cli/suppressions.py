"""``newsletter suppressions``: list, add, remove and import suppression entries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import EXIT_INPUT, cli_settings, command_database, err, fail, out, reported_errors, sendable_address
from publisher.cli.terminal import safe, safe_json

if TYPE_CHECKING:
    from publisher.accounts.audit import Action
    from publisher.db.engine import Database

app = typer.Typer(no_args_is_help=True, help="The suppression list: addresses never to mail again, everywhere or on one list.")

ListOption = Annotated[str | None, typer.Option("--list", help="One list's entries (default: the global ones, which apply everywhere).")]
Address = Annotated[str, typer.Argument(help="Email address.")]


def _reason(value: str) -> str:
    from publisher.audience.suppression_list import check_reason

    try:
        return check_reason(value)
    except ValueError as exc:
        fail(f"--reason: {exc}", EXIT_INPUT)


def _where(list_name: str | None) -> str:
    return "everywhere" if list_name is None else f"on list '{safe(list_name)}'"


def _scope(list_name: str | None) -> str:
    """The scope as the audit log names it, the same words as the console's entries."""
    return "everywhere" if list_name is None else f"list {list_name}"


def _audit(db: Database, action: Action, target: str, detail: str) -> None:
    """Record a change already committed: the command line acts as the operator at the shell."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR

    audit.log(db, CLI_ACTOR, action, target=target, detail=detail)


@app.command("list")
def suppressions_list(
    list_name: Annotated[
        str | None, typer.Option("--list", help="Only the entries that stop mail to this list (its own and the global ones).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show suppression entries, oldest first: address (or hash of an erased one), scope, reason, source, time."""
    from publisher.audience.suppression_list import list_entries

    with reported_errors(), command_database(cli_settings()) as db:
        entries = list_entries(db, list_name)
    if as_json:
        print(safe_json([entry.as_dict() for entry in entries]))
        return
    for entry in entries:
        when = entry.created_at.strftime("%Y-%m-%d %H:%M")
        out.print(safe(f"{entry.label}  {entry.scope}  {entry.reason}  {entry.source}  {when}"), soft_wrap=True)
    out.print(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        + (f" for list '{safe(list_name)}' (its own and the global ones)" if list_name else "")
    )


@app.command("add")
def suppressions_add(
    email: Address,
    list_name: ListOption = None,
    reason: Annotated[str, typer.Option(help="Why it must not be mailed (shown in the list).")] = "added by an operator",
) -> None:
    """Suppress an address everywhere, or on one list with --list."""
    from publisher.accounts.audit import Action
    from publisher.audience.suppression_list import DEFAULT_REASON, add

    address, why = sendable_address(email), _reason(reason) or DEFAULT_REASON
    with reported_errors(), command_database(cli_settings()) as db:
        added = add(db, address, list_name, why)
        if added:
            _audit(db, Action.SUPPRESSED, address, f"{_scope(list_name)}: {why}")
    if added:
        out.print(f"{address} suppressed {_where(list_name)}", markup=False)
    else:
        out.print(f"{address} is already suppressed {_where(list_name)}; nothing changed", markup=False)


@app.command("remove")
def suppressions_remove(
    email: Address,
    list_name: ListOption = None,
    include_erased: Annotated[
        bool,
        typer.Option(
            "--include-erased", help="Also remove an entry kept for an erased address (only when that person asks to be mailed again)."
        ),
    ] = False,
) -> None:
    """Remove an address's entry in one scope (global by default, or --list): it may be mailed again there."""
    from publisher.accounts.audit import Action
    from publisher.audience.suppression_list import remove

    address = sendable_address(email)
    with reported_errors(), command_database(cli_settings()) as db:
        removal = remove(db, address, list_name, include_erased=include_erased)
        _audit(db, Action.UNSUPPRESSED, address, f"{_scope(list_name)}: {removal.removed} entry(ies) removed")
    out.print(f"{address} is no longer suppressed {_where(list_name)}", markup=False)
    if removal.still_global:
        out.print(f"note: {address} is still suppressed everywhere (`newsletter suppressions remove {address}` lifts that)", markup=False)


@app.command("import")
def suppressions_import(
    csv_file: Annotated[Path, typer.Argument(help="UTF-8 CSV with an 'email' column and an optional 'reason' column.")],
    list_name: ListOption = None,
    reason: Annotated[str, typer.Option(help="Reason for rows without one of their own.")] = "imported",
) -> None:
    """Suppress every address of a CSV file; invalid rows are reported with their line numbers and skipped."""
    from publisher.accounts.audit import Action
    from publisher.audience.suppression_list import IMPORT_REASON, import_file

    why = _reason(reason)
    with reported_errors(), command_database(cli_settings()) as db:
        report = import_file(db, csv_file, list_name, why or IMPORT_REASON)
        counts = f"{report.added} added, {report.already} already suppressed, {len(report.problems)} rejected"
        _audit(db, Action.IMPORTED, "suppressions", f"{csv_file.name} ({_scope(list_name)}): {counts}")
    for problem in report.problems:
        err.print(safe(f"{csv_file}:{problem.line}: skipped: {problem.reason}"), soft_wrap=True)
    out.print(
        f"{_where(list_name)}: {report.added} added, {report.already} already suppressed, {len(report.problems)} skipped", markup=False
    )
