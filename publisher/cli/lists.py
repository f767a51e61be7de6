"""List commands: show the lists, make one public or private, describe it, give it a time zone, a welcome issue, switch its tracking."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli.common import EXIT_INPUT, MAX_CAMPAIGN_ID, cli_settings, fail, out, reported_errors
from publisher.cli.terminal import safe
from publisher.db.models import SubscriptionStatus

app = typer.Typer(no_args_is_help=True, help="Show the lists; choose which ones have their issues in the public archive.")

SHOWN_STATUSES = (SubscriptionStatus.CONFIRMED, SubscriptionStatus.PENDING, SubscriptionStatus.UNSUBSCRIBED)
SWITCH = {"on": True, "off": False}


@app.command("show")
def lists_show() -> None:
    """Show every list: public or private, subscribers by status, time zone, tracking, description."""
    from publisher.audience.lists import list_summaries
    from publisher.db.engine import open_database

    settings = cli_settings()
    with reported_errors():
        summaries = list_summaries(open_database(settings.resolved_database_url))
    if not summaries:
        out.print("no lists yet; `newsletter subscribers import FILE --list NAME` creates one", markup=False)
        return
    width = max(len(safe(summary.name)) for summary in summaries)
    for summary in summaries:
        counts = ", ".join(f"{summary.counts[status]} {status.value}" for status in SHOWN_STATUSES)
        # The zone is one word, so it comes before the description, the only free text on the line.
        tracking = "tracking on " if summary.tracking else "tracking off"
        line = (
            f"{safe(summary.name):<{width}}  {'public ' if summary.public else 'private'}  {counts}  {safe(summary.timezone)}  {tracking}"
        )
        if summary.welcome_campaign_id is not None:
            line += f"  welcome {summary.welcome_campaign_id}"
        out.print(line + (f"  {safe(summary.description)}" if summary.description else ""), soft_wrap=True)


@app.command("set")
def lists_set(
    name: Annotated[str, typer.Argument(help="List name (see `newsletter lists show`).")],
    public: Annotated[
        bool | None, typer.Option("--public/--private", help="Public lists take sign-ups and have their issues in the archive and feed.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="One line about the list, shown on the preference page.")] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA time zone (e.g. Europe/Paris) of subscribers with none of their own, for --local-time sends."),
    ] = None,
    tracking: Annotated[
        str | None,
        typer.Option(
            metavar="on|off",
            help="Track opens and clicks in the list's issues published from now on (NEWSLETTER_TRACKING must be on too).",
        ),
    ] = None,
    welcome: Annotated[
        str | None,
        typer.Option(
            metavar="ID|none",
            help="An issue of this list that each confirmed sign-up gets a copy of; `none` stops welcoming.",
        ),
    ] = None,
) -> None:
    """Make a list public or private, or change its description, time zone, tracking or welcome issue."""
    from publisher.audience.lists import MAX_DESCRIPTION, ListChange, update_list
    from publisher.core.zones import check_zone
    from publisher.db.engine import open_database
    from publisher.ledger.welcome import set_welcome

    if public is None and description is None and timezone is None and tracking is None and welcome is None:
        fail(
            "nothing to change: give --public, --private, --description TEXT, --timezone ZONE, --tracking on|off or --welcome ID",
            EXIT_INPUT,
        )
    if tracking is not None and tracking.strip().lower() not in SWITCH:
        fail(f"--tracking: give on or off, not {safe(tracking[:40])!r}", EXIT_INPUT)
    track = SWITCH[tracking.strip().lower()] if tracking is not None else None
    welcome_id = _welcome_id(welcome) if welcome is not None else None
    if timezone is not None:
        try:
            timezone = check_zone(timezone.strip())
        except ValueError as exc:
            fail(f"--timezone: {exc}", EXIT_INPUT)
    if description is not None:
        description = description.strip()
        if len(description) > MAX_DESCRIPTION:
            fail(f"--description is {len(description)} characters long; at most {MAX_DESCRIPTION} fit", EXIT_INPUT)
    settings = cli_settings()
    with reported_errors():
        change = ListChange(public=public, description=description, timezone=timezone, tracking=track)
        db = open_database(settings.resolved_database_url)
        # One transaction: a welcome issue refused leaves the other changes unmade too.
        summary = set_welcome(db, name, welcome_id, change) if welcome is not None else update_list(db, name, change)
    if summary.public:
        out.print(f"list '{safe(summary.name)}' is public: its issues are in the archive and the RSS feed", soft_wrap=True)
    else:
        out.print(f"list '{safe(summary.name)}' is private: its issues are not in the archive", soft_wrap=True)
    if timezone is not None:
        out.print(f"subscribers of '{safe(summary.name)}' with no time zone of their own are in {summary.timezone}", soft_wrap=True)
    if track is not None:
        what = "track opens and clicks" if summary.tracking else "track no opens or clicks: links stay as written, no pixel"
        out.print(f"issues to '{safe(summary.name)}' published from now on {what}", soft_wrap=True)
        if summary.tracking and not settings.tracking:
            out.print("NEWSLETTER_TRACKING is off: no issue is tracked until it is on", soft_wrap=True)
    if welcome is not None:
        if summary.welcome_campaign_id is None:
            out.print(f"list '{safe(summary.name)}' has no welcome issue: sign-ups get none", soft_wrap=True)
        else:
            welcome_line = f"each sign-up confirmed on '{safe(summary.name)}' gets a copy of campaign {summary.welcome_campaign_id}"
            out.print(welcome_line, soft_wrap=True)


def _welcome_id(value: str) -> int | None:
    """``--welcome``'s campaign id, or None for ``none``; exit 2 for anything else."""
    text = value.strip()
    if text.lower() == "none":
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_CAMPAIGN_ID)) and 0 < int(text) <= MAX_CAMPAIGN_ID):
        fail(f"--welcome {value[:40]!r}: give a campaign id (1 to {MAX_CAMPAIGN_ID}, see `newsletter status`) or `none`", EXIT_INPUT)
    return int(text)
