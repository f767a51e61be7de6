"""The suppressions page: search, add, remove and import entries (editors and above), as ``newsletter suppressions`` does.

An erased person's entry keeps only the address's hash; the console shows it
but never removes it: that entry keeps a promise that only the person can
release, and the command line's ``--include-erased`` is the one way to.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher.accounts.audit import Action, log
from publisher.accounts.sessions import SignedIn
from publisher.audience.lists import list_summaries
from publisher.audience.lookup import MAX_SEARCH, SEARCH_LIMIT, find_suppressions
from publisher.audience.subscriber_rows import normalise_email
from publisher.audience.suppression_list import DEFAULT_REASON, IMPORT_REASON, add, check_reason, import_file, remove
from publisher.core.errors import ImportFileError, NewsletterError, NotFoundError
from publisher.web.console.access import Editor
from publisher.web.console.auth import User, actor
from publisher.web.console.pages import HEADERS, console_page
from publisher.web.console.uploads import UploadError, UploadForm, file_field, saved_upload, text_field, without_directory
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

MAX_FIELD = 1000
DONE = {
    "added": "The address is suppressed.",
    "already": "The address was suppressed there already.",
    "removed": "The suppression was removed.",
}


@router.get("/suppressions", response_class=HTMLResponse)
def suppressions_page(
    ctx: Context, user: User, q: Annotated[str, Query(max_length=MAX_SEARCH)] = "", done: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    return _page(ctx, user, q=q, notice=DONE.get(done, ""))


def _page(ctx: WebContext, user: SignedIn, status_code: int = 200, **context: Any) -> HTMLResponse:
    entries = find_suppressions(ctx.db, context.get("q", ""), SEARCH_LIMIT + 1)
    values = {"q": "", "notice": "", "errors": {}, "email": "", "list_name": "", "reason": "", "report": None, "filename": ""} | context
    return console_page(
        "suppressions.html.j2",
        user,
        status_code,
        title="Suppressions",
        section="suppressions",
        entries=entries[:SEARCH_LIMIT],
        more=len(entries) > SEARCH_LIMIT,
        limit=SEARCH_LIMIT,
        list_names=[summary.name for summary in list_summaries(ctx.db)],
        **values,
    )


def _scope(list_name: str) -> str | None:
    return list_name.strip() or None


@router.post("/suppressions/add", response_class=HTMLResponse)
def add_suppression(
    request: Request,
    ctx: Context,
    user: Editor,
    email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    list_name: Annotated[str, Form(alias="list", max_length=MAX_FIELD)] = "",
    reason: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    typed = {"email": email, "list_name": list_name, "reason": reason}
    errors: dict[str, str] = {}
    try:
        address = normalise_email(email.strip())
    except ValueError as exc:
        errors["email"] = f"not a valid email address: {exc}" if email.strip() else "type the address to suppress"
    try:
        why = check_reason(reason) or DEFAULT_REASON
    except ValueError as exc:
        errors["reason"] = str(exc)
    if errors:
        return _page(ctx, user, 400, errors=errors, **typed)
    try:
        added = add(ctx.db, address, _scope(list_name), why)
    except NewsletterError as exc:  # no such list, or a name no list can have
        return _page(ctx, user, 400, errors={"list": str(exc)}, **typed)
    if added:
        where = f"list {_scope(list_name)}" if _scope(list_name) else "everywhere"
        log(ctx.db, actor(request, ctx, user), Action.SUPPRESSED, target=address, detail=f"{where}: {why}")
    return RedirectResponse(f"/console/suppressions?done={'added' if added else 'already'}", status_code=303, headers=HEADERS)


@router.post("/suppressions/remove", response_class=HTMLResponse)
def remove_suppression(
    request: Request,
    ctx: Context,
    user: Editor,
    email: Annotated[str, Form(max_length=MAX_FIELD)],
    list_name: Annotated[str, Form(alias="list", max_length=MAX_FIELD)] = "",
) -> Response:
    try:
        address = normalise_email(email.strip())
        removal = remove(ctx.db, address, _scope(list_name))
    except ValueError as exc:
        return _page(ctx, user, 400, errors={"remove": f"{email[:320]!r} is not a valid email address: {exc}"})
    except NotFoundError as exc:
        return _page(ctx, user, 404, errors={"remove": str(exc)})
    except NewsletterError as exc:  # not suppressed there, an erased address, no such list
        message = str(exc).replace("pass --include-erased", "run `newsletter suppressions remove --include-erased`")
        return _page(ctx, user, 400, errors={"remove": message})
    where = f"list {_scope(list_name)}" if _scope(list_name) else "everywhere"
    log(ctx.db, actor(request, ctx, user), Action.UNSUPPRESSED, target=address, detail=f"{where}: {removal.removed} entry(ies) removed")
    return RedirectResponse("/console/suppressions?done=removed", status_code=303, headers=HEADERS)


@router.post("/suppressions/import", response_class=HTMLResponse)
def import_suppressions(request: Request, ctx: Context, user: Editor, form: UploadForm) -> HTMLResponse:
    list_name, reason, file = text_field(form, "list", MAX_FIELD), text_field(form, "reason", MAX_FIELD), file_field(form, "file")
    typed = {"list_name": list_name, "reason": reason}
    try:
        why = check_reason(reason) or IMPORT_REASON
    except ValueError as exc:
        return _page(ctx, user, 400, errors={"import_reason": str(exc)}, **typed)
    try:
        with saved_upload(file, ctx.settings.max_import_bytes) as path:
            filename = path.name
            try:
                report = import_file(ctx.db, path, _scope(list_name), why)
            except ImportFileError as exc:
                return _page(ctx, user, 400, errors={"file": without_directory(str(exc), path)}, **typed)
            except NewsletterError as exc:
                return _page(ctx, user, 400, errors={"import_list": str(exc)}, **typed)
    except UploadError as exc:
        return _page(ctx, user, 400, errors={"file": str(exc)}, **typed)
    where = f"list {_scope(list_name)}" if _scope(list_name) else "everywhere"
    detail = f"{filename} ({where}): {report.added} added, {report.already} already suppressed, {len(report.problems)} rejected"
    log(ctx.db, actor(request, ctx, user), Action.IMPORTED, target="suppressions", detail=detail)
    return _page(ctx, user, report=report, filename=filename, notice=f"Imported {detail}.")
