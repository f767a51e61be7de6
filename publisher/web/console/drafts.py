"""New campaign and edit draft: the form, ``Add resource``/``Remove resource`` without JavaScript, ``Upload recap``.

A press of ``Add resource`` or ``Remove resource`` posts the whole form and
gets it back with the row added or removed, so nothing typed is lost and no
script is needed. ``Save draft`` composes the recap text (the CLI's format),
lints it and stores it; what cannot be read comes back next to its field
with the input kept, as 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from publisher.accounts.roles import Actor
from publisher.accounts.sessions import SignedIn
from publisher.content.drafting import compose, lint_draft, read_draft
from publisher.content.recap import MAX_RECAP_BYTES
from publisher.core.errors import ConfigurationError, ContentError, NotFoundError
from publisher.db.models import Campaign
from publisher.ledger.drafts import DraftConflict, DraftContent, RecapListTaken, create_draft, update_draft
from publisher.ledger.results import audiences
from publisher.web.console import previews
from publisher.web.console.auth import actor, read_form
from publisher.web.console.campaign_page import existing
from publisher.web.console.draft_form import RESOURCE_FIELDS, TEXT_FIELDS, DraftForm
from publisher.web.console.pages import console_page
from publisher.web.console.roles import Editor
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


def sent_already(user: SignedIn, campaign_id: int) -> HTMLResponse:
    """The answer to editing or sending a campaign that has been sent: 409."""
    return console_page(
        "message.html.j2",
        user,
        409,
        title="Sent already",
        section="campaigns",
        message=f"Campaign {campaign_id} was sent already: it cannot be edited or sent again.",
        back=f"/console/campaigns/{campaign_id}",
    )


def providers(ctx: WebContext) -> list[str]:
    """The providers to offer: the configured one, the fallback, and any a campaign has used."""
    with ctx.db.transaction() as session:
        used = session.scalars(select(Campaign.provider).distinct()).all()
    names = [ctx.settings.provider, ctx.settings.fallback_provider or "", *sorted(used)]
    return list(dict.fromkeys(name for name in names if name))


def form_page(ctx: WebContext, user: SignedIn, form: DraftForm, campaign_id: int | None, status_code: int = 200) -> HTMLResponse:
    lists = audiences(ctx.db)
    if not form.list_name and lists:
        form.list_name = lists[0][0]
    form.provider = form.provider or ctx.settings.provider
    shown = None
    if campaign_id is not None and not form.errors:
        try:
            shown = previews.render(ctx, user, read_draft(compose(form.recap_fields(), form.body)), "")
        except ContentError:
            shown = None
    base = f"/console/campaigns/{campaign_id}" if campaign_id is not None else "/console/campaigns"
    return console_page(
        "draft_form.html.j2",
        user,
        status_code,
        title=f"Edit draft {campaign_id}" if campaign_id is not None else "New campaign",
        section="campaigns",
        form=form,
        text_fields=TEXT_FIELDS,
        resource_fields=RESOURCE_FIELDS,
        lists=lists,
        providers=providers(ctx),
        action_url=f"{base}/edit" if campaign_id is not None else f"{base}/new",
        upload_url=f"{base}/upload",
        import_action=f"{base}/import-url",
        campaign_id=campaign_id,
        preview=shown,
        widths=previews.WIDTHS,
    )


def save(ctx: WebContext, who: Actor, form: DraftForm, campaign_id: int | None) -> int | None:
    """Store the draft and return its id, or None with the problems placed on ``form``."""
    recap = None
    try:
        text = compose(form.recap_fields(), form.body)
        recap = read_draft(text, "the form")
    except ContentError as exc:
        form.place(exc.problems)
    if form.list_name not in {name for name, _ in audiences(ctx.db)}:
        form.errors["list"] = "Choose a list."
    try:
        ctx.provider_check(ctx.settings, form.provider)
    except ConfigurationError as exc:
        form.errors["provider"] = str(exc)
    if form.errors or recap is None:
        return None
    content = DraftContent(
        recap=recap, recap_text=text, list_name=form.list_name, provider=form.provider, lint=lint_draft(ctx.settings, recap)
    )
    if campaign_id is None:
        return create_draft(ctx.settings, ctx.db, content, who)
    update_draft(ctx.settings, ctx.db, campaign_id, content, who)
    return campaign_id


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign(ctx: Context, user: Editor, list_name: Annotated[str, Query(alias="list", max_length=100)] = "") -> Response:
    """The empty form; ``?list=`` chooses its list (an event page's `Start a draft` names its audience)."""
    return form_page(ctx, user, DraftForm(list_name=list_name), None)


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def edit_draft(ctx: Context, user: Editor, campaign_id: int) -> Response:
    draft = existing(ctx, campaign_id)
    if draft.recap_text is None or draft.status.value != "draft":
        return sent_already(user, campaign_id)
    form = DraftForm.of_recap(draft.recap, draft.list_name or "", draft.provider)
    return form_page(ctx, user, form, campaign_id)


@router.post("/campaigns/new", response_class=HTMLResponse)
async def post_new(request: Request, ctx: Context, user: Editor) -> Response:
    return await _post(request, ctx, user, None)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
async def post_edit(request: Request, ctx: Context, user: Editor, campaign_id: int) -> Response:
    await run_in_threadpool(existing, ctx, campaign_id)  # 404 before the form is read
    return await _post(request, ctx, user, campaign_id)


async def _post(request: Request, ctx: WebContext, user: SignedIn, campaign_id: int | None) -> Response:
    posted = await read_form(request)
    form = DraftForm.read(posted)
    action = posted.get("action", "save")
    if isinstance(action, str) and form.apply(action):
        return await run_in_threadpool(form_page, ctx, user, form, campaign_id)
    try:
        saved = await run_in_threadpool(save, ctx, actor(request, ctx, user), form, campaign_id)
    except RecapListTaken as exc:
        form.errors["list"] = str(exc)
        saved = None
    except DraftConflict:
        assert campaign_id is not None
        return sent_already(user, campaign_id)
    except NotFoundError as exc:
        form.errors["list"] = str(exc)
        saved = None
    if saved is None:
        return await run_in_threadpool(form_page, ctx, user, form, campaign_id, 422)
    return RedirectResponse(f"/console/campaigns/{saved}", status_code=303)


@router.post("/campaigns/upload", response_class=HTMLResponse)
async def upload_new(request: Request, ctx: Context, user: Editor) -> Response:
    return await _upload(request, ctx, user, None)


@router.post("/campaigns/{campaign_id}/upload", response_class=HTMLResponse)
async def upload_edit(request: Request, ctx: Context, user: Editor, campaign_id: int) -> Response:
    await run_in_threadpool(existing, ctx, campaign_id)  # 404 before the file is read
    return await _upload(request, ctx, user, campaign_id)


async def _upload(request: Request, ctx: WebContext, user: SignedIn, campaign_id: int | None) -> Response:
    """Fill the form from a recap file (the CLI's format); nothing is saved until ``Save draft``."""
    posted = await read_form(request)
    try:
        return await _read_upload(ctx, user, campaign_id, posted.get("recap"))
    finally:
        await posted.close()


def _recap_form(raw: bytes, filename: str) -> tuple[DraftForm, str | None]:
    """The form filled from an uploaded recap, or an empty one and what is wrong with the file."""
    if len(raw) > MAX_RECAP_BYTES:
        return DraftForm(), f"{filename} is larger than 1 MiB, the most a recap may be."
    try:
        return DraftForm.of_recap(read_draft(raw.decode("utf-8-sig"), filename)), None
    except UnicodeDecodeError as exc:
        return DraftForm(), f"{filename} is not UTF-8 (byte {exc.start})."
    except ContentError as exc:
        return DraftForm(), str(exc)


async def _read_upload(ctx: WebContext, user: SignedIn, campaign_id: int | None, upload: object) -> Response:
    form, problem = DraftForm(), None
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = "Choose a recap file (.md) to upload."
    elif not upload.filename.lower().endswith(".md"):
        problem = f"{upload.filename} is not a recap: upload a Markdown file (.md)."
    else:
        raw = await upload.read(MAX_RECAP_BYTES + 1)
        # Parsing up to a mebibyte of Markdown and YAML is work for the threadpool, not the event loop.
        form, problem = await run_in_threadpool(_recap_form, raw, upload.filename)
    if campaign_id is not None:
        # The file carries the content; the draft keeps its list and provider.
        draft = await run_in_threadpool(existing, ctx, campaign_id)
        form.list_name, form.provider = draft.list_name or "", draft.provider
    if problem is not None:
        form.errors["recap"] = problem
        return await run_in_threadpool(form_page, ctx, user, form, campaign_id, 422)
    return await run_in_threadpool(form_page, ctx, user, form, campaign_id)
