"""`Import attendees`: the console's ``newsletter events import``, for editors and above.

A platform's attendee export (or the generic format) is uploaded with the
event's slug, made when new; the answer lists what was added, updated and
left as it was, and every skipped row with its line and reason, as the
command prints them. A file that cannot be used at all is refused next to
its field and nothing is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from publisher.accounts.audit import Action, log
from publisher.accounts.sessions import SignedIn
from publisher.core.errors import ImportFileError
from publisher.events.catalogue import MAX_NAME, EventError, EventFields, check_fields, check_slug
from publisher.events.csv_import import FORMAT_CHOICES, import_attendees
from publisher.web.console.access import Editor
from publisher.web.console.auth import actor
from publisher.web.console.pages import console_page
from publisher.web.console.uploads import UploadError, UploadForm, file_field, saved_upload, text_field, without_directory
from publisher.web.deps import Context

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

#: The import's path: beside the events, not under /console/events/{slug}, where "import" could be a slug.
IMPORT_PATH = "/console/attendees/import"
FORMATS = [
    ("auto", "Tell by its columns"),
    ("eventbrite", "Eventbrite attendee summary"),
    ("luma", "Luma guest list"),
    ("zoom", "Zoom webinar attendee report"),
    ("generic", "Generic (email, first_name, last_name, attended, checked_in_at)"),
    ("meetup", "Meetup attendee list (refused: it has no addresses)"),
]
MAX_SLUG = 60


@router.get("/attendees/import", response_class=HTMLResponse)
def import_page(user: Editor, event: Annotated[str, Query(max_length=MAX_SLUG)] = "") -> HTMLResponse:
    return _form(user, {"event": event, "name": "", "format": "auto"}, {})


@router.post("/attendees/import", response_class=HTMLResponse)
def import_csv(request: Request, ctx: Context, user: Editor, form: UploadForm) -> HTMLResponse:
    typed = {
        "event": text_field(form, "event", MAX_SLUG * 4).strip(),
        "name": text_field(form, "name", MAX_NAME * 4).strip(),
        "format": text_field(form, "format", 20) or "auto",
    }
    errors = _field_errors(typed)
    if errors:
        return _form(user, typed, errors, 400)
    try:
        with saved_upload(file_field(form, "file"), ctx.settings.max_import_bytes) as path:
            try:
                result = import_attendees(
                    ctx.db, ctx.settings, path.read_bytes(), path.name, typed["event"], typed["format"], typed["name"] or None
                )
            except ImportFileError as exc:
                return _form(user, typed, {"file": without_directory(str(exc), path)}, 400)
            filename = path.name
    except UploadError as exc:
        return _form(user, typed, {"file": str(exc)}, 400)
    who = actor(request, ctx, user)
    if result.created:
        log(ctx.db, who, Action.EVENT_CREATED, target=f"event:{result.slug}")
    log(ctx.db, who, Action.IMPORTED, target=f"event:{result.slug}", detail=f"{filename}: {result.summary} ({result.format})")
    return console_page(
        "event_import.html.j2",
        user,
        title=f"Import into {result.slug}",
        section="events",
        typed=typed,
        formats=FORMATS,
        errors={},
        result=result,
        filename=filename,
    )


def _field_errors(typed: dict[str, str]) -> dict[str, str]:
    errors = {}
    try:
        check_slug(typed["event"])
    except EventError as exc:
        errors["event"] = str(exc)
    if typed["name"]:
        try:
            check_fields(EventFields(name=typed["name"]))
        except EventError as exc:
            errors["name"] = str(exc)
    if typed["format"] not in FORMAT_CHOICES:
        errors["format"] = "Choose one of the formats listed."
    return errors


def _form(user: SignedIn, typed: dict[str, str], errors: dict[str, str], status_code: int = 200) -> HTMLResponse:
    return console_page(
        "event_import.html.j2",
        user,
        status_code,
        title="Import attendees",
        section="events",
        typed=typed,
        formats=FORMATS,
        errors=errors,
        result=None,
        filename="",
    )
