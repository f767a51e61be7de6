"""``newsletter subscribers export|erase``: what we hold about one address, and erasing it (registered on the main CLI)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli import EXIT_INPUT, _address, _settings, fail, out, reported_errors, subscribers_app
from publisher.terminal import safe_json

Address = Annotated[str, typer.Argument(help="Email address.")]


@subscribers_app.command("export")
def subscribers_export(email: Address) -> None:
    """Print as JSON everything held about an address: subscriber, consent, suppressions, deliveries and their events."""
    from publisher.db.engine import open_database
    from publisher.privacy import export

    address = _address(email)
    with reported_errors():
        settings = _settings()
        data = export(open_database(settings.resolved_database_url, settings.secret_keys), address)
    if data is None:
        fail(f"no data held for {address}", EXIT_INPUT)
    print(safe_json(data))


@subscribers_app.command("erase")
def subscribers_erase(
    email: Address,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase an address's personal data and suppress it everywhere by its hash, so it is never mailed again."""
    from publisher.db.engine import open_database
    from publisher.privacy import erase

    address = _address(email)
    settings = _settings()
    if not yes:
        if not sys.stdin.isatty():
            fail("erasing cannot be undone: pass --yes to confirm when not running in a terminal", EXIT_INPUT)
        typer.confirm(f"Erase everything held about {address}? This cannot be undone", abort=True)
    with reported_errors():
        erased = erase(open_database(settings.resolved_database_url, settings.secret_keys), address, settings.resolved_outbox_dir)
    if not erased.held_anything:
        out.print(f"no personal data was held for {address}", markup=False)
    else:
        out.print(f"erased {address}:", markup=False)
        if erased.subscriber:
            out.print(f"  subscriber record and {erased.subscriptions} subscription(s) with their consent records deleted")
        if erased.deliveries:
            stopped = f", {erased.stopped} of them no longer to be sent" if erased.stopped else ""
            out.print(f"  {erased.deliveries} delivery record(s) anonymised{stopped}; {erased.events} event detail(s) cleared")
        if erased.outbox_files:
            out.print(f"  {erased.outbox_files} outbox message file(s) deleted")
        if erased.suppressions:
            out.print(f"  {erased.suppressions} suppression entr(ies) reduced to the address's hash")
    if erased.suppression_added:
        out.print("the address is now suppressed everywhere by its hash (reason 'erased on request'): it will never be mailed again")
    else:
        out.print("the address was already suppressed everywhere; that entry now holds only its hash")
