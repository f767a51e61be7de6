"""``newsletter recap from-url|from-feed``: a recap file made from the event's blog post, or the newest item of a feed.

The page is fetched under the rules of :mod:`publisher.core.fetching`
(https, public addresses, NEWSLETTER_FETCH_TIMEOUT, NEWSLETTER_FETCH_MAX_BYTES),
its article extracted and written as recap Markdown. The file is written
whole or not at all (a temporary file renamed into place), and an existing
file is kept unless ``--force``: a recap someone has edited is not lost to a
second run. The last line printed is the file written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli.common import EXIT_INPUT, cli_settings, command_database, err, fail, out, reported_errors
from publisher.cli.terminal import safe

if TYPE_CHECKING:
    from publisher.content.from_web.recaps import WebRecap
    from publisher.core.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Recaps made from the web: the event's blog post, or the newest item of its feed.")

Output = Annotated[Path, typer.Option("-o", "--output", help="Where to write the recap (Markdown with YAML front matter).")]
EventSlug = Annotated[
    str | None, typer.Option("--event", help="The event's slug (newsletter events list): its name becomes the recap's event name.")
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite the output file if it exists.")]


@app.command("from-url")
def from_url(
    url: Annotated[str, typer.Argument(help="The blog post's https URL.")],
    output: Output,
    event: EventSlug = None,
    force: Force = False,
) -> None:
    """Fetch a blog post and write its article as a recap; the last line printed is the file written."""
    _make(url, output, event, force, from_feed=False)


@app.command("from-feed")
def from_feed(
    url: Annotated[str, typer.Argument(help="The blog's RSS or Atom feed, an https URL.")],
    output: Output,
    event: EventSlug = None,
    force: Force = False,
) -> None:
    """Fetch a feed, then its newest item's page, and write that article as a recap; the last line printed is the file written."""
    _make(url, output, event, force, from_feed=True)


def _make(url: str, output: Path, event: str | None, force: bool, *, from_feed: bool) -> None:
    from publisher.content.from_web.recaps import recap_from_feed, recap_from_url
    from publisher.core.fetching import FetchPolicy

    settings = cli_settings()
    if output.exists() and not force:
        fail(f"{output} exists: give --force to overwrite it", EXIT_INPUT)
    with reported_errors():
        event_name = _event_name(settings, event) if event is not None else None
        make = recap_from_feed if from_feed else recap_from_url
        made = make(url, FetchPolicy.of(settings), event_name)
        _write(output, made.text, force)
    _report(made)
    out.print(safe(str(output)), soft_wrap=True)


def _event_name(settings: Settings, slug: str) -> str:
    from publisher.events.catalogue import event_summary

    with command_database(settings) as db:
        return event_summary(db, settings, slug).name


def _write(path: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``path`` whole or not at all; without ``force``, never over an existing file."""
    from publisher.core.errors import NewsletterError

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if force:
            os.replace(temporary, path)
        else:
            # link() fails if the name exists, even if it appeared during the fetch.
            os.link(temporary, path)
    except FileExistsError:
        raise NewsletterError(f"{path} exists: give --force to overwrite it") from None
    except OSError as exc:
        raise NewsletterError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _report(made: WebRecap) -> None:
    err.print(safe(f"read {made.url}"), soft_wrap=True)
    err.print(safe(f"title: {made.title}"), soft_wrap=True)
    event = made.recap.meta.event
    err.print(safe(f"event: {event.name if event else '-'}, date {made.date or 'not found'}"), soft_wrap=True)
