"""``Import from URL`` on the draft form: the event's blog post fills the title, the preheader and the body.

The page is fetched as ``newsletter recap from-url`` fetches it (https,
public addresses only, NEWSLETTER_FETCH_TIMEOUT, NEWSLETTER_FETCH_MAX_BYTES)
and nothing is saved until ``Save draft``. The title and the body are
replaced; the preheader, the event's name and its date are filled only
where they are empty, so what someone typed there is kept. Whatever goes
wrong (the URL, the fetch, a page with no article) comes back next to the
field as 422, with the form as it was.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from publisher.accounts.sessions import SignedIn
from publisher.content.from_web.recaps import WebRecap, recap_from_url
from publisher.core.errors import NewsletterError
from publisher.core.fetching import MAX_URL_LENGTH, FetchPolicy
from publisher.web.console.auth import read_form
from publisher.web.console.campaign_page import existing
from publisher.web.console.draft_form import MAX_BODY, DraftForm
from publisher.web.console.drafts import form_page, sent_already
from publisher.web.console.roles import Editor
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

FIELD = "import_url"


@router.post("/campaigns/import-url", response_class=HTMLResponse)
async def import_new(request: Request, ctx: Context, user: Editor) -> Response:
    return await _import(request, ctx, user, None)


@router.post("/campaigns/{campaign_id}/import-url", response_class=HTMLResponse)
async def import_edit(request: Request, ctx: Context, user: Editor, campaign_id: int) -> Response:
    return await _import(request, ctx, user, campaign_id)


async def _import(request: Request, ctx: WebContext, user: SignedIn, campaign_id: int | None) -> Response:
    posted = await read_form(request)
    raw = posted.get("url", "")
    url = raw.strip() if isinstance(raw, str) else ""
    form = DraftForm()
    if campaign_id is not None:
        draft = await run_in_threadpool(existing, ctx, campaign_id)
        if draft.recap_text is None or draft.status.value != "draft":
            return sent_already(user, campaign_id)
        form = DraftForm.of_recap(draft.recap, draft.list_name or "", draft.provider)
    form.import_url = url[:MAX_URL_LENGTH]
    problem = "Enter the https address of the event's blog post." if not url else None
    if problem is None:
        try:
            # Up to NEWSLETTER_FETCH_TIMEOUT of waiting on another server: the threadpool's, not the event loop's.
            made = await run_in_threadpool(recap_from_url, url, FetchPolicy.of(ctx.settings))
        except NewsletterError as exc:
            problem = str(exc)
        else:
            problem = fill(form, made)
    if problem is not None:
        form.errors[FIELD] = problem
        return await run_in_threadpool(form_page, ctx, user, form, campaign_id, 422)
    return await run_in_threadpool(form_page, ctx, user, form, campaign_id)


def fill(form: DraftForm, made: WebRecap) -> str | None:
    """Put the page's recap into ``form``; return what stops it, if anything does."""
    body = made.recap.body.strip()
    if len(body) > MAX_BODY:
        return f"{made.url}: the article is {len(body):,} characters long; at most {MAX_BODY:,} fit in the body"
    meta = made.recap.meta
    form.values["title"] = meta.title
    form.body = body
    empty = {name for name, value in form.values.items() if not value.strip()}
    found = {
        "preheader": meta.preheader,
        "event_name": meta.event.name if meta.event else "",
        "event_date": made.date.isoformat() if made.date else "",
    }
    form.values.update({name: value for name, value in found.items() if name in empty and value})
    return None
