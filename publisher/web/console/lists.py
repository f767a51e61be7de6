"""The lists page: every list with its subscriptions counted by status, its switches, its welcome issue, and `Import CSV`.

Importing follows ``newsletter subscribers import``: every row is checked,
rejected rows are listed with their line and reason, the valid ones land in
one transaction. The switches and the welcome issue are for admins; importing
for editors and above. The welcome issue is chosen among the campaigns
``set_welcome`` accepts, and set by it, so its rules are the CLI's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from publisher.accounts.audit import Action, log
from publisher.accounts.sessions import SignedIn
from publisher.audience.lists import ListChange, ListNameError, ListSummary, check_new_list_name, list_summaries, update_list
from publisher.audience.subscribers import ImportReport, import_subscribers
from publisher.core.errors import ImportFileError, NotFoundError
from publisher.db.models import MAX_ID, SubscriptionStatus
from publisher.ledger.welcome import WelcomeChoiceError, set_welcome, welcome_options
from publisher.web.console.access import Admin, Editor
from publisher.web.console.auth import User, actor
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.console.uploads import UploadError, UploadForm, file_field, saved_upload, text_field, without_directory
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

#: Names of this shape are not for imports: they are refused with this reason.
MAX_FIELD = 1000


#: The welcome field's value for "no welcome issue"; any other is a campaign id.
NO_WELCOME = "none"


@router.get("/lists", response_class=HTMLResponse)
def lists_page(ctx: Context, user: User) -> HTMLResponse:
    return _lists_page(ctx, user)


def _lists_page(ctx: WebContext, user: SignedIn, status_code: int = 200, refused: tuple[str, str] | None = None) -> HTMLResponse:
    """The page; ``refused`` is (list name, why) of a welcome issue not set, shown by that list's field."""
    refused_name, refusal = refused or ("", "")
    return console_page(
        "lists.html.j2",
        user,
        status_code,
        title="Lists",
        section="lists",
        lists=list_summaries(ctx.db),
        statuses=list(SubscriptionStatus),
        tracking=ctx.settings.tracking,
        welcome=welcome_options(ctx.db),
        no_welcome=NO_WELCOME,
        refused_name=refused_name,
        refusal=refusal,
    )


@router.post("/lists/visibility")
def set_visibility(
    request: Request,
    ctx: Context,
    user: Admin,
    list_name: Annotated[str, Form(alias="list", max_length=MAX_FIELD)],
    public: Annotated[str, Form(max_length=10)],
) -> Response:
    if public not in ("yes", "no"):
        raise HTTPException(400, "public must be yes or no")
    changed = _changed_list(ctx, list_name, ListChange(public=public == "yes"))
    return _audited(request, ctx, user, changed.name, "public" if changed.public else "private")


@router.post("/lists/tracking")
def set_tracking(
    request: Request,
    ctx: Context,
    user: Admin,
    list_name: Annotated[str, Form(alias="list", max_length=MAX_FIELD)],
    tracking: Annotated[str, Form(max_length=10)],
) -> Response:
    """Switch the tracking of opens and clicks in the list's issues published from now on."""
    if tracking not in ("on", "off"):
        raise HTTPException(400, "tracking must be on or off")
    changed = _changed_list(ctx, list_name, ListChange(tracking=tracking == "on"))
    return _audited(request, ctx, user, changed.name, "tracking on" if changed.tracking else "tracking off")


@router.post("/lists/welcome", response_class=HTMLResponse)
def set_welcome_issue(
    request: Request,
    ctx: Context,
    user: Admin,
    list_name: Annotated[str, Form(alias="list", max_length=MAX_FIELD)],
    welcome: Annotated[str, Form(max_length=20)],
) -> Response:
    """Choose the issue each sign-up confirmed on the list gets a copy of, or none: ``newsletter lists set --welcome``."""
    try:
        # The name first: a refusal of the value is shown by that list's field, never with a name no list can have.
        name = check_new_list_name(list_name)
        changed = set_welcome(ctx.db, name, _campaign_id(welcome))
    except ListNameError as exc:
        raise HTTPException(400, str(exc)) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (ValueError, WelcomeChoiceError) as exc:
        return _lists_page(ctx, user, 400, (name, str(exc)))
    chosen = changed.welcome_campaign_id
    return _audited(request, ctx, user, changed.name, f"welcome issue {chosen}" if chosen is not None else "no welcome issue")


def _changed_list(ctx: WebContext, list_name: str, change: ListChange) -> ListSummary:
    """Make a switch's change: 400 for a name no list can have, 404 for a list that does not exist."""
    try:
        return update_list(ctx.db, list_name, change)
    except ListNameError as exc:
        raise HTTPException(400, str(exc)) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


def _audited(request: Request, ctx: WebContext, user: SignedIn, name: str, detail: str) -> Response:
    """Record a list setting changed on this page in the audit log, and go back to the page."""
    log(ctx.db, actor(request, ctx, user), Action.LIST_CHANGED, target=f"list:{name}", detail=detail)
    return RedirectResponse("/console/lists", status_code=303, headers=HEADERS)


def _campaign_id(value: str) -> int | None:
    """The welcome field's campaign id, None for ``none``; ValueError (not naming the value) for anything else."""
    if value == NO_WELCOME:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ID))):
        raise ValueError("choose a campaign of the list, or none")
    # set_welcome says "no campaign with id N" for 0 and ids past the largest.
    return int(value)


@router.get("/lists/import", response_class=HTMLResponse)
def import_page(user: Editor, list_name: Annotated[str, Query(alias="list")] = "") -> HTMLResponse:
    return _import_form(user, list_name[:MAX_FIELD], {})


@router.post("/lists/import", response_class=HTMLResponse)
def import_csv(request: Request, ctx: Context, user: Editor, form: UploadForm) -> HTMLResponse:
    list_name, file = text_field(form, "list", MAX_FIELD), file_field(form, "file")
    try:
        name = _importable_name(list_name)
    except ListNameError as exc:
        return _import_form(user, list_name, {"list": str(exc)}, 400)
    try:
        with saved_upload(file, ctx.settings.max_import_bytes) as path:
            try:
                report = import_subscribers(ctx.db, path, name)
            except ImportFileError as exc:
                return _import_form(user, list_name, {"file": without_directory(str(exc), path)}, 400)
            filename = path.name
    except UploadError as exc:
        return _import_form(user, list_name, {"file": str(exc)}, 400)
    log(ctx.db, actor(request, ctx, user), Action.IMPORTED, target=f"list:{name}", detail=f"{filename}: {_summary(report)}")
    return console_page(
        "list_import.html.j2",
        user,
        title=f"Import into {name}",
        section="lists",
        list_name=name,
        errors={},
        report=report,
        filename=filename,
    )


def _importable_name(name: str) -> str:
    return check_new_list_name(name)


def _import_form(user: SignedIn, list_name: str, errors: dict[str, str], status_code: int = 200) -> HTMLResponse:
    return console_page(
        "list_import.html.j2",
        user,
        status_code,
        title="Import CSV",
        section="lists",
        list_name=list_name,
        errors=errors,
        report=None,
        filename="",
    )


def _summary(report: ImportReport) -> str:
    parts = [f"{report.added} added", f"{report.updated} updated", f"{report.unchanged} unchanged"]
    if report.kept_unsubscribed:
        parts.append(f"{report.kept_unsubscribed} kept unsubscribed")
    parts.append(f"{len(report.problems)} rejected")
    return ", ".join(parts)
