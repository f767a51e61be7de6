"""``newsletter subscribers import|export|erase``: bring addresses in; what we hold about one address, and erasing it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from publisher.core.settings import Settings
    from publisher.db.engine import Database
    from publisher.ledger.welcome import ImportWelcome

from publisher.cli.common import EXIT_INPUT, cli_settings, command_database, err, fail, out, reported_errors, sendable_address
from publisher.cli.terminal import safe, safe_json

app = typer.Typer(no_args_is_help=True, help="Manage subscribers.")


@app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV with columns email, first_name, last_name, …")],
    list_name: Annotated[str, typer.Option("--list", help="List to add them to (created if new).")],
    welcome: Annotated[
        bool, typer.Option("--welcome", help="Send the list's welcome issue to everyone the import confirms (none without it).")
    ] = False,
) -> None:
    """Import subscribers (confirmed) from a UTF-8 CSV file; invalid rows are reported and skipped."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.audience.csv_file import RowProblem
    from publisher.audience.subscribers import import_subscribers

    def skipped(problem: RowProblem) -> None:
        # Printed as the import goes: a file of any size may have any number.
        err.print(safe(f"{csv_file}:{problem.line}: skipped: {problem.reason}"), soft_wrap=True)

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        welcomes = _welcome_writer(settings, db, list_name) if welcome else None
        report = import_subscribers(db, csv_file, list_name, on_problem=skipped, on_confirmed=welcomes)
        counts = f"{report.added} added, {report.updated} updated, {report.skipped} skipped, from {csv_file.name}"
        audit.log(db, CLI_ACTOR, audit.Action.IMPORTED, target=list_name, detail=counts)
        if welcomes is not None and welcomes.batch_ids:
            from publisher.sending import enqueue_batches

            enqueue_batches(settings, db, welcomes.batch_ids)
    summary = f"list '{safe(list_name)}': {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
    if report.kept_unsubscribed:
        summary += f", {report.kept_unsubscribed} kept unsubscribed"
    out.print(summary + f", {report.skipped} skipped")
    if welcomes is not None:
        _report_welcomes(welcomes)


def _welcome_writer(settings: Settings, db: Database, list_name: str) -> ImportWelcome:
    """What writes the welcome issue during the import, once the list, its welcome issue and the provider are checked."""
    from publisher.audience.lists import check_new_list_name
    from publisher.ledger.welcome import ImportWelcome, require_welcome
    from publisher.sending import batch_size
    from workers.providers import check_provider

    require_welcome(db, check_new_list_name(list_name))
    return ImportWelcome(settings, batch_size(settings, check_provider, settings.provider))


def _report_welcomes(welcomes: ImportWelcome) -> None:
    if welcomes.campaign_id is None:
        out.print("welcome issue: sent to no one (nobody newly confirmed, or each had it already)", soft_wrap=True)
        return
    out.print(
        f"welcome issue: campaign {welcomes.campaign_id} to {welcomes.recipients} subscriber(s) in {len(welcomes.batch_ids)} batch(es)"
    )


Address = Annotated[str, typer.Argument(help="Email address.")]


@app.command("export")
def subscribers_export(email: Address) -> None:
    """Print as JSON everything held about an address: subscriber, consent, suppressions, deliveries and their events."""
    from publisher.audience.privacy import export

    address = sendable_address(email)
    with reported_errors(), command_database(cli_settings()) as db:
        data = export(db, address)
    if data is None:
        fail(f"no data held for {address}", EXIT_INPUT)
    print(safe_json(data))


@app.command("erase")
def subscribers_erase(
    email: Address,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase an address's personal data and suppress it everywhere by its hash, so it is never mailed again."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.audience.privacy import REDACTED, erase

    address = sendable_address(email)
    settings = cli_settings()
    if not yes:
        if not sys.stdin.isatty():
            fail("erasing cannot be undone: pass --yes to confirm when not running in a terminal", EXIT_INPUT)
        typer.confirm(f"Erase everything held about {address}? This cannot be undone", abort=True)
    with reported_errors(), command_database(settings) as db:
        erased = erase(db, address, settings.resolved_outbox_dir)
        audit.record_erasure(db, CLI_ACTOR, address, erased.subscriber_id, erased.summary, redacted_as=REDACTED)
    if not erased.held_anything:
        out.print(f"no personal data was held for {address}", markup=False)
    else:
        out.print(f"erased {address}:", markup=False)
        if erased.subscriber:
            out.print(f"  subscriber record and {erased.subscriptions} subscription(s) with their consent records deleted")
        if erased.deliveries:
            stopped = f", {erased.stopped} of them no longer to be sent" if erased.stopped else ""
            out.print(f"  {erased.deliveries} delivery record(s) anonymised{stopped}; {erased.events} event detail(s) cleared")
            if erased.engagements:
                out.print(f"  {erased.engagements} open(s) and click(s) deleted")
        if erased.outbox_files:
            out.print(f"  {erased.outbox_files} outbox message file(s) deleted")
        if erased.suppressions:
            out.print(f"  {erased.suppressions} suppression entr(ies) reduced to the address's hash")
    if erased.suppression_added:
        out.print("the address is now suppressed everywhere by its hash (reason 'erased on request'): it will never be mailed again")
    else:
        out.print("the address was already suppressed everywhere; that entry now holds only its hash")
