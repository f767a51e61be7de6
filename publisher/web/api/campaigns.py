"""``/v1/campaigns``: write drafts, read campaigns, preview one subscriber's copy.

A draft is stored as recap text, whether it came as fields or as a whole
recap, and saved whenever it can be read; its lint report goes with it and
only sending refuses lint errors.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from publisher.accounts.roles import Scope
from publisher.audience.lists import find_list
from publisher.audience.subscriber_rows import normalise_email
from publisher.content.drafting import compose, fields_of, lint_draft, merge, read_draft
from publisher.content.preview import SampleSubscriber
from publisher.content.rendering.personalize import Recipient
from publisher.core.errors import ContentError, NotFoundError
from publisher.core.links import UNSUBSCRIBE, VIEW, LinkTarget
from publisher.db.models import MAX_ID, Campaign, CampaignStatus, Subscriber, Subscription, SubscriptionStatus
from publisher.ledger.drafts import DraftContent, create_draft, load_draft, update_draft
from publisher.ledger.idempotency import MAX_KEY, RequestKey, create_draft_once
from publisher.ledger.status import campaign_progress
from publisher.web.api.auth import CampaignsRead, CampaignsWrite
from publisher.web.api.problems import ApiProblem, responses
from publisher.web.api.schemas import CampaignOut, CampaignPage, ContentFields, DraftChange, DraftCreate
from publisher.web.api.subject_tests import ab_test_out, requested_test
from publisher.web.api.translate import translated
from publisher.web.deps import Context, WebContext
from publisher.web.issue import issue_response, render_html, subscriber_copy

router = APIRouter(tags=["campaigns"])

CampaignId = Annotated[int, Path(ge=1, le=MAX_ID, description="The campaign's id.")]
CONTENT_KEYS = tuple(ContentFields.model_fields)


def campaign_out(ctx: WebContext, campaign_id: int) -> CampaignOut:
    """One campaign (not a test send) with its lint report and content; 404 when there is none."""
    try:
        [progress] = campaign_progress(ctx.db, campaign_id, kept=ctx.settings.tracking_kept)
    except NotFoundError:
        progress = None
    if progress is None or progress.is_test:
        raise ApiProblem(404, f"no campaign with id {campaign_id}")
    with ctx.db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None  # campaign_progress found it; campaigns are never deleted
        lint, recap_text = campaign.lint, campaign.recap_text
        variants, ab_test = ab_test_out(session, campaign, ctx.settings.tracking_kept)
    shown = {"lint": lint, "content": _content(campaign_id, recap_text), "subject_variants": variants, "ab_test": ab_test}
    return CampaignOut.model_validate(progress.as_dict() | shown)


def campaign_page(ctx: WebContext, limit: int, before: int | None) -> list[CampaignOut]:
    """The newest ``limit`` campaigns older than ``before``, test sends left out; without their content, to keep pages small."""
    progress = campaign_progress(ctx.db, limit=limit, before=before, tests=False)
    shown: dict[int, dict[str, Any]] = {}
    with ctx.db.transaction() as session:
        for campaign in session.scalars(select(Campaign).where(Campaign.id.in_([p.id for p in progress]))):
            variants, ab_test = ab_test_out(session, campaign, ctx.settings.tracking_kept) if campaign.subject_variants else (None, None)
            shown[campaign.id] = {"lint": campaign.lint, "subject_variants": variants, "ab_test": ab_test}
    return [CampaignOut.model_validate(p.as_dict() | shown[p.id]) for p in progress]


def _content(campaign_id: int, recap_text: str | None) -> dict[str, Any] | None:
    if recap_text is None:
        return None
    try:
        recap = read_draft(recap_text, f"campaign {campaign_id}")
    except ContentError:
        return None
    return fields_of(recap) | {"recap": recap_text}


def draft_content(ctx: WebContext, recap_text: str, list_name: str, provider: str) -> DraftContent:
    """Read, check and lint a draft's content; 422 naming each problem and where."""
    with translated():
        recap = read_draft(recap_text)
    try:
        with ctx.db.transaction() as session:
            list_name = find_list(session, list_name).name
    except NotFoundError as exc:
        raise ApiProblem(422, str(exc), errors=[("list", str(exc))]) from exc
    with translated():
        ctx.provider_check(ctx.settings, provider)
        return DraftContent(
            recap=recap, recap_text=recap_text, list_name=list_name, provider=provider, lint=lint_draft(ctx.settings, recap)
        )


def _recap_text(fields: dict[str, Any]) -> str:
    """The recap text of a body: its ``recap``, or its content fields composed; never both."""
    recap = fields.pop("recap", None)
    given = [key for key in CONTENT_KEYS if key != "recap" and key in fields]
    if recap is not None:
        if given:
            raise ApiProblem(422, "send either recap or content fields, not both", errors=[(key, "given with recap") for key in given])
        return str(recap)
    return compose(fields, str(fields.get("body") or ""))


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignOut,
    responses={200: {"model": CampaignOut, "description": "The draft this Idempotency-Key made before"}, **responses(409)},
    summary="Create a draft",
)
def create_campaign(
    body: DraftCreate,
    response: Response,
    actor: CampaignsWrite,
    ctx: Context,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=MAX_KEY, description="Sending the same body again with the same key gives the same draft."),
    ] = None,
) -> CampaignOut:
    fields = body.model_dump(exclude_none=True, exclude={"subject_variants", "ab_test"})
    list_name, provider = fields.pop("list"), fields.pop("provider", None) or ctx.settings.provider
    content = draft_content(ctx, _recap_text(fields), list_name, provider)
    test = requested_test(content.recap.meta.email_subject, body)
    with translated():
        if idempotency_key is None:
            campaign_id, new = create_draft(ctx.settings, ctx.db, content, actor, test), True
        else:
            digest = hashlib.sha256(json.dumps(body.model_dump(exclude_none=True), sort_keys=True).encode()).hexdigest()
            created = create_draft_once(ctx.settings, ctx.db, content, actor, RequestKey(actor.name, idempotency_key, digest), test)
            campaign_id, new = created.campaign_id, created.new
    response.status_code = 201 if new else 200
    response.headers["Location"] = f"/v1/campaigns/{campaign_id}"
    return campaign_out(ctx, campaign_id)


@router.get("/campaigns", response_model=CampaignPage, responses=responses(), summary="Campaigns, newest first (without their content)")
def list_campaigns(
    actor: CampaignsRead,
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=100, description="Most campaigns on a page.")] = 20,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only campaigns older than this id (the `next` of a page).")] = None,
) -> CampaignPage:
    items = campaign_page(ctx, limit + 1, before)
    more = len(items) > limit
    items = items[:limit]
    return CampaignPage(items=items, next=items[-1].id if more else None)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=responses(404), summary="One campaign")
def get_campaign(campaign_id: CampaignId, actor: CampaignsRead, ctx: Context) -> CampaignOut:
    return campaign_out(ctx, campaign_id)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, responses=responses(404, 409), summary="Edit a draft")
def edit_campaign(campaign_id: CampaignId, body: DraftChange, actor: CampaignsWrite, ctx: Context) -> CampaignOut:
    campaign_out(ctx, campaign_id)
    with translated():
        draft = load_draft(ctx.db, campaign_id)
    if draft.status is not CampaignStatus.DRAFT or draft.recap_text is None:
        raise ApiProblem(409, f"campaign {campaign_id} is {draft.status.value}: only a draft can be edited")
    changes = body.model_dump(exclude_unset=True)
    list_name = changes.pop("list", None) or draft.list_name or ""
    provider = changes.pop("provider", None) or draft.provider
    if changes.get("recap") is not None:
        text = _recap_text(changes)
    else:
        changes.pop("recap", None)
        with translated():
            text = merge(draft.recap, changes) if changes else draft.recap_text
    content = draft_content(ctx, text, list_name, provider)
    with translated():
        update_draft(ctx.settings, ctx.db, campaign_id, content, actor)
    return campaign_out(ctx, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/preview",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The email's HTML"}, **responses(403, 404)},
    summary="The email as one subscriber gets it, with links that act on nothing",
)
def preview_campaign(
    campaign_id: CampaignId,
    actor: CampaignsWrite,
    ctx: Context,
    subscriber: Annotated[
        str | None,
        Query(
            max_length=320,
            description="A confirmed subscriber of the campaign's list (needs subscribers:read too); a sample subscriber when left out.",
        ),
    ] = None,
) -> HTMLResponse:
    campaign_out(ctx, campaign_id)
    address = None
    if subscriber is not None:
        # Naming a subscriber reveals whether that address is on the list: a subscribers:read question.
        if Scope.SUBSCRIBERS_READ not in actor.scopes:
            raise ApiProblem(403, f"the token {actor.name} lacks the scope subscribers:read a preview for a named subscriber needs")
        try:
            address = normalise_email(subscriber)
        except ValueError as exc:
            raise ApiProblem(422, f"subscriber: {exc}", errors=[("subscriber", str(exc))]) from exc
    # The links act on nothing: a preview is looked at, and its links followed, by the staff, never by the subscriber.
    target = LinkTarget(subscriber_id=None, list_id=None, campaign_id=None)
    unsubscribe_url, view_url = ctx.signer.url(UNSUBSCRIBE, target), ctx.signer.url(VIEW, target)
    with ctx.db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None  # campaign_out found it; campaigns are never deleted
        if address is None:
            sample = SampleSubscriber()
            recipient = Recipient(sample.email, sample.first_name, sample.last_name, unsubscribe_url, view_url)
        else:
            found = session.scalar(
                select(Subscriber)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .where(
                    Subscriber.email == address,
                    Subscription.list_id == campaign.list_id,
                    Subscription.status == SubscriptionStatus.CONFIRMED,
                )
            )
            if found is None:
                # The same answer whether the address is unknown, on another list, pending or unsubscribed.
                raise ApiProblem(404, f"{address} is not a confirmed subscriber of this campaign's list")
            recipient = subscriber_copy(found, unsubscribe_url, view_url)
        html = render_html(campaign, recipient)
    return issue_response(html, cache_control="private, no-store")
