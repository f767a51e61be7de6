"""``newsletter events create|import|end|set|list|show``: events, their people, their audiences and what happens when they end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from publisher.cli.common import EXIT_INPUT, cli_settings, command_database, err, fail, out, reported_errors
from publisher.cli.terminal import safe, safe_json, safe_table
from publisher.core.settings import MAX_EVENT_DELAY

if TYPE_CHECKING:
    from publisher.events.catalogue import EventSummary

app = typer.Typer(no_args_is_help=True, help="Events: who registered and who came, and the recap drafts made when one ends.")

Slug = Annotated[str, typer.Argument(help="The event's slug: 1 to 60 lower-case letters, digits and hyphens.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("create")
def events_create(
    slug: Slug,
    name: Annotated[str, typer.Option("--name", help="The event's name, as the emails show it.")],
    start: Annotated[str, typer.Option("--start", help="When it starts, ISO 8601 with its UTC offset.")],
    end: Annotated[str, typer.Option("--end", help="When it ends, ISO 8601 with its UTC offset.")],
    timezone: Annotated[str, typer.Option("--timezone", help="The IANA zone it runs in (Europe/Paris): emails show its times there.")],
    venue: Annotated[str | None, typer.Option("--venue", help="Where it takes place.")] = None,
    online_url: Annotated[str | None, typer.Option("--online-url", help="Its online link, for an event run online.")] = None,
) -> None:
    """Create an event run anywhere else than the platforms the service listens to."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.events.catalogue import EventFields, create_event

    if venue is not None and online_url is not None:
        fail("give --venue or --online-url, not both", EXIT_INPUT)
    fields = EventFields(
        name=name,
        starts_at=_time("--start", start),
        ends_at=_time("--end", end),
        timezone=timezone,
        venue=venue,
        online_url=online_url,
    )
    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        summary = create_event(db, slug, "manual", fields)
        audit.log(db, CLI_ACTOR, audit.Action.EVENT_CREATED, target=f"event:{summary.slug}")
    out.print(
        safe(f"event {summary.slug} created: audiences event:{summary.slug}:attended and event:{summary.slug}:no-show"), soft_wrap=True
    )


ExportFormatName = Literal["auto", "eventbrite", "luma", "zoom", "generic", "meetup"]


@app.command("import")
def events_import(
    csv_file: Annotated[Path, typer.Argument(help="An attendee export: Eventbrite's, Luma's, Zoom's, or email,first_name,… columns.")],
    slug: Annotated[str, typer.Option("--event", help="The event's slug (created if new).")],
    name: Annotated[str | None, typer.Option("--name", help="The event's name (default: the export's, else the slug).")] = None,
    export_format: Annotated[ExportFormatName, typer.Option("--format", help="Whose export it is; auto tells by its columns.")] = "auto",
) -> None:
    """Record an event's registrants and who attended from a UTF-8 CSV export; invalid rows are reported and skipped."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.core.errors import ImportFileError
    from publisher.events.csv_import import import_attendees

    settings = cli_settings()
    with reported_errors():
        try:
            if csv_file.stat().st_size > settings.max_import_bytes:
                raise ImportFileError(
                    f"{csv_file}: the file is larger than {settings.max_import_bytes:,} bytes, "
                    "the most an import takes (NEWSLETTER_MAX_IMPORT_BYTES)"
                )
            data = csv_file.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"{csv_file}: cannot read file ({exc.strerror})") from exc
        with command_database(settings) as db:
            result = import_attendees(db, settings, data, str(csv_file), slug, export_format, name)
            if result.created:
                audit.log(db, CLI_ACTOR, audit.Action.EVENT_CREATED, target=f"event:{result.slug}")
            detail = f"{result.summary}, from {csv_file.name} ({result.format})"
            audit.log(db, CLI_ACTOR, audit.Action.IMPORTED, target=f"event:{result.slug}", detail=detail)
    for problem in result.report.problems:
        err.print(safe(f"{csv_file}:{problem.line}: skipped: {problem.reason}"), soft_wrap=True)
    if result.created:
        out.print(safe(f"event {result.slug} created ({result.format} export)"), soft_wrap=True)
    out.print(safe(f"event {result.slug}: {result.summary}"), soft_wrap=True)


@app.command("end")
def events_end(slug: Slug) -> None:
    """The event ends now, as a platform's "ended" signal would say; its recap rule runs after the delay."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.events.catalogue import end_event

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        summary = end_event(db, slug)
        audit.log(db, CLI_ACTOR, audit.Action.EVENT_ENDED, target=f"event:{summary.slug}")
    out.print(safe(f"event {summary.slug} has ended: attended {summary.attended}, no-show {summary.no_show}"), soft_wrap=True)


@app.command("set")
def events_set(
    slug: Slug,
    recap: Annotated[
        Literal["drafts", "none", "auto"],
        typer.Option("--recap", help="When it ends: make recap drafts (drafts), nothing (none), or drafts sent once approved (auto)."),
    ],
    auto_send_after: Annotated[
        int | None,
        typer.Option(
            "--auto-send-after",
            min=0,
            max=MAX_EVENT_DELAY,
            help="With auto: seconds after the end the approved draft is sent (at most 315360000, ten years).",
        ),
    ] = None,
) -> None:
    """Choose what happens when the event ends (this event only; NEWSLETTER_<SOURCE>_RECAP is the default)."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.events.catalogue import set_recap_rule

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        summary = set_recap_rule(db, slug, recap, auto_send_after)
        detail = f"recap {recap}" + (f", auto-send after {auto_send_after} s" if auto_send_after is not None else "")
        audit.log(db, CLI_ACTOR, audit.Action.EVENT_CHANGED, target=f"event:{summary.slug}", detail=detail)
    out.print(safe(f"event {summary.slug}: {detail}"), soft_wrap=True)


@app.command("list")
def events_list(as_json: JsonOption = False) -> None:
    """Every event, the newest first, with how many registered and attended."""
    from publisher.events.catalogue import event_summaries

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        summaries = event_summaries(db, settings)
    if as_json:
        print(safe_json([summary.as_json() for summary in summaries]))
        return
    rows = (
        [s.slug, s.name, s.source, _when(s.starts_at, s.timezone), str(s.registered), str(s.attended), str(s.no_show), s.recap_rule]
        for s in summaries
    )
    out.print(safe_table("Events", ("slug", "name", "source", "starts", "registered", "attended", "no-show", "recap"), rows))
    out.print(f"{len(summaries)} event(s)")


@app.command("show")
def events_show(slug: Slug, as_json: JsonOption = False) -> None:
    """One event: when and where, its audiences with their counts, and its recap rule."""
    from publisher.events.catalogue import event_summary

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        summary = event_summary(db, settings, slug)
    if as_json:
        print(safe_json(summary.as_json()))
        return
    for line in _show_lines(summary):
        out.print(safe(line), soft_wrap=True)


def _show_lines(summary: EventSummary) -> list[str]:
    place = summary.venue or summary.online_url or "not given"
    rule = summary.recap_rule + (f" (auto-send after {summary.auto_send_after} s)" if summary.auto_send_after is not None else "")
    return [
        f"event: {summary.slug}",
        f"name: {summary.name}",
        f"source: {summary.source}" + (f" ({summary.platform_id})" if summary.platform_id else ""),
        f"starts: {_when(summary.starts_at, summary.timezone)}",
        f"ends: {_when(summary.ends_at, summary.timezone)}",
        f"where: {place}",
        f"ended: {'yes' if summary.ended else 'no'}",
        f"registered: {summary.registered}",
        f"attended: {summary.attended}",
        f"no-show: {summary.no_show}",
        f"attendance unknown: {summary.unknown}",
        f"audiences: event:{summary.slug}:attended, event:{summary.slug}:no-show",
        f"recap: {rule}",
    ]


def _when(moment: dt.datetime | None, zone: str) -> str:
    """The time in the event's zone, as people there read it."""
    from zoneinfo import ZoneInfo

    if moment is None:
        return "not given"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _time(option: str, value: str) -> dt.datetime:
    shown = value[:60]  # a refused value is echoed, but never at length
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {shown!r} is not an ISO 8601 time (e.g. 2026-12-04T18:30:00+01:00)", EXIT_INPUT)
    if moment.tzinfo is None:
        fail(
            f"{option} {shown!r} has no UTC offset: add one (2026-12-04T18:30:00+01:00), or the time could be read in the wrong zone",
            EXIT_INPUT,
        )
    return moment
