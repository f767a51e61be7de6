"""``/v1/campaigns/{id}/…``: test copies, sending once, resending, approving, pause, resume, cancel, the report, pick-winner.

Sending goes through ``publisher.sending``, as the CLI and the console do:
the ledger is written under the campaign's row lock, so of two sends of one
draft, one is accepted and the other finds it sent (409).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from publisher import sending
from publisher.audience.subscriber_rows import sendable_email
from publisher.core.broker import redis_url
from publisher.core.clock import within_range
from publisher.db.models import Campaign
from publisher.ledger import approval, control
from publisher.ledger.drafts import SendOrder
from publisher.ledger.report import campaign_report
from publisher.ledger.resend import ResendOrder
from publisher.ledger.subject_tests import SubjectTestError
from publisher.queue import dispatch_due
from publisher.web.api.auth import CampaignsRead, CampaignsSend, CampaignsWrite
from publisher.web.api.campaigns import CampaignId, campaign_out
from publisher.web.api.problems import ApiProblem, responses
from publisher.web.api.schemas import (
    CampaignOut,
    ControlDone,
    PickWinner,
    ResendAccepted,
    ResendRequest,
    SendAccepted,
    SendRequest,
    TestSend,
    TestSent,
)
from publisher.web.api.subject_tests import requested_test
from publisher.web.api.translate import translated
from publisher.web.deps import Context

log = logging.getLogger(__name__)
router = APIRouter(tags=["campaigns"])


@router.post(
    "/campaigns/{campaign_id}/test", status_code=202, response_model=TestSent, responses=responses(404, 409), summary="Send test copies"
)
def send_test_copies(campaign_id: CampaignId, body: TestSend, actor: CampaignsWrite, ctx: Context) -> TestSent:
    addresses: list[str] = []
    errors: list[tuple[str, str]] = []
    for index, address in enumerate(body.to):
        try:
            addresses.append(sendable_email(address))
        except ValueError as exc:
            errors.append((f"to.{index}", str(exc)))
    if errors:
        raise ApiProblem(422, "; ".join(f"{where}: {reason}" for where, reason in errors), errors=errors)
    campaign_out(ctx, campaign_id)
    with translated():
        created = sending.test(ctx.settings, ctx.db, campaign_id, tuple(dict.fromkeys(addresses)), actor, ctx.provider_check)
    return TestSent(test_campaign=created.id, recipients=list(dict.fromkeys(addresses)))


def _moment(value: str) -> dt.datetime:
    """An ISO 8601 time; no offset means UTC, as with ``newsletter publish --send-at``; an empty one is refused, never read as now."""
    if not value.strip():
        raise ApiProblem(422, "send_at: empty; leave it out (or null) to send now", errors=[("send_at", "empty")])
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiProblem(422, f"send_at: {exc}", errors=[("send_at", "not an ISO 8601 date and time")]) from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        # Checked in UTC, as it is stored: 0001-01-01T00:00+14:00 has no UTC time at all.
        within_range(moment)
    except ValueError as exc:
        raise ApiProblem(422, f"send_at: {exc}", errors=[("send_at", str(exc))]) from None
    return moment


def _own_subject(ctx: Context, campaign_id: int) -> str:
    with ctx.db.reading() as session:
        return session.scalar(select(Campaign.subject).where(Campaign.id == campaign_id)) or ""


@router.post(
    "/campaigns/{campaign_id}/send",
    status_code=202,
    response_model=SendAccepted,
    responses=responses(404, 409),
    summary="Send or schedule a draft, once",
)
def send_campaign(
    campaign_id: CampaignId,
    actor: CampaignsSend,
    ctx: Context,
    body: Annotated[SendRequest | None, Body()] = None,
) -> SendAccepted:
    request = body or SendRequest()
    send_at = _moment(request.send_at) if request.send_at is not None else None
    campaign_out(ctx, campaign_id)
    order = SendOrder(campaign_id, send_at=send_at, force=request.force)
    if request.subject_variants is not None or request.ab_test is not None:
        order = replace(order, subject_test=requested_test(_own_subject(ctx, campaign_id), request))
    # A list with nobody to send to is the campaign's state, not a missing resource.
    with translated(not_found=409):
        created = sending.send(ctx.settings, ctx.db, order, actor, ctx.provider_check)
    return SendAccepted(
        id=created.id,
        status="scheduled" if created.scheduled else "sending",
        recipients=created.recipients,
        send_at=send_at.isoformat() if created.scheduled and send_at else None,
    )


@router.post(
    "/campaigns/{campaign_id}/resend",
    status_code=202,
    response_model=ResendAccepted,
    responses=responses(404, 409),
    summary="Resend a complete issue to its non-openers, once",
)
def resend_campaign(campaign_id: CampaignId, body: ResendRequest, actor: CampaignsSend, ctx: Context) -> ResendAccepted:
    """A new campaign of the same issue to everyone sent it with no human open or click, still on the list.

    409: the campaign was resent already (or is a resend), was sent without
    tracking, is not complete, or has nobody left to resend to. 422: a
    subject that is empty or not one line.
    """
    send_at = _moment(body.send_at) if body.send_at is not None else None
    campaign_out(ctx, campaign_id)
    # Nobody to resend to is the campaign's state, not a missing resource.
    with translated(not_found=409):
        created = sending.resend(ctx.settings, ctx.db, ResendOrder(campaign_id, body.subject, send_at), actor, ctx.provider_check)
    return ResendAccepted(
        id=created.id,
        resend_of=campaign_id,
        status="scheduled" if created.scheduled else "sending",
        recipients=created.recipients,
        send_at=send_at.isoformat() if created.scheduled and send_at else None,
    )


@router.post(
    "/campaigns/{campaign_id}/approve",
    response_model=CampaignOut,
    responses=responses(404, 409),
    summary="Approve a draft the workers send automatically",
)
def approve_campaign(campaign_id: CampaignId, actor: CampaignsSend, ctx: Context) -> CampaignOut:
    """An event's recap under the rule auto is sent at its ``auto_send_at`` once approved; approving it again changes nothing.

    409: not a draft, or not one sent automatically, or it has lint errors
    (with the ``findings``). 422: it has no body yet.
    """
    campaign_out(ctx, campaign_id)
    with translated():
        approval.approve(ctx.db, campaign_id, actor)
    return campaign_out(ctx, campaign_id)


def _done(ctx: Context, campaign_id: int, **extra: Any) -> ControlDone:
    return ControlDone(id=campaign_id, status=campaign_out(ctx, campaign_id).status, **extra)


@router.post("/campaigns/{campaign_id}/pause", response_model=ControlDone, responses=responses(404, 409), summary="Pause a campaign")
def pause_campaign(campaign_id: CampaignId, actor: CampaignsSend, ctx: Context) -> ControlDone:
    campaign_out(ctx, campaign_id)
    with translated():
        control.pause(ctx.db, campaign_id, actor=actor)
    return _done(ctx, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/resume", response_model=ControlDone, responses=responses(404, 409), summary="Resume a paused campaign"
)
def resume_campaign(campaign_id: CampaignId, actor: CampaignsSend, ctx: Context) -> ControlDone:
    campaign_out(ctx, campaign_id)
    with translated():
        control.resume(ctx.db, campaign_id, actor=actor)
    try:
        dispatch_due(ctx.settings, ctx.db, redis_url(ctx.settings, start=False))
    except (OperationalError, RedisError, OSError):
        # The batches are due in the ledger: the workers' next sweep enqueues them.
        log.warning("campaign %s resumed; its batches could not be enqueued now", campaign_id, exc_info=True)
    return _done(ctx, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel", response_model=ControlDone, responses=responses(404, 409), summary="Cancel a campaign")
def cancel_campaign(campaign_id: CampaignId, actor: CampaignsSend, ctx: Context) -> ControlDone:
    campaign_out(ctx, campaign_id)
    with translated():
        cancelled = control.cancel(ctx.db, campaign_id, actor=actor)
    return _done(ctx, campaign_id, cancelled_records=cancelled)


@router.get("/campaigns/{campaign_id}/report", response_model=dict[str, Any], responses=responses(404), summary="What became of a campaign")
def report_campaign(campaign_id: CampaignId, actor: CampaignsRead, ctx: Context) -> dict[str, Any]:
    campaign_out(ctx, campaign_id)
    with translated():
        return campaign_report(ctx.db, campaign_id).as_dict()


@router.post(
    "/campaigns/{campaign_id}/pick-winner",
    response_model=CampaignOut,
    responses=responses(404, 409),
    summary="Decide a subject test by hand: the rest of the list gets this variant now",
)
def pick_winner(campaign_id: CampaignId, body: PickWinner, actor: CampaignsSend, ctx: Context) -> CampaignOut:
    """409 once the test is decided (by the sweep or by hand), for a campaign without a test, and for a draft,
    a cancelled or a complete campaign; 422 for a variant the test does not have.
    """
    if campaign_out(ctx, campaign_id).ab_test is None:
        raise ApiProblem(409, f"campaign {campaign_id} has no subject test: there is no winner to pick")
    with translated():
        try:
            sending.pick_winner(ctx.settings, ctx.db, campaign_id, body.variant, actor)
        except SubjectTestError as exc:
            raise ApiProblem(422, str(exc), errors=[("variant", str(exc))]) from exc
    return campaign_out(ctx, campaign_id)
