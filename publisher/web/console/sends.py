"""``Send test``, ``Send now`` / ``Schedule`` through a confirmation that asks for the number of recipients, and ``Approve``.

The confirmation states the list and how many people would get the email
now, and ``Confirm send`` goes through only when that number is typed back:
console.js keeps the button disabled until it matches, and the server
checks it again (422 on a mismatch), against the audience as it is at that
moment. Two people confirming at once send once: the ledger locks the
draft, and the second gets the "sent already" page (409).

``Approve`` (senders) is for a draft the workers' sweep sends by itself (an
event's recap under the rule auto): it goes out at its send time once
approved. Refused, on the draft's page, for a draft without a body (422),
with lint errors or not sent automatically (409).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from publisher import sending
from publisher.accounts.sessions import SignedIn
from publisher.audience.subscriber_rows import sendable_email
from publisher.core import zones
from publisher.core.clock import FIRST_YEAR, LAST_YEAR, utcnow, within_range
from publisher.core.errors import ConfigurationError, NotFoundError
from publisher.db.models import CampaignStatus
from publisher.ledger import approval
from publisher.ledger.campaigns import last_local_release
from publisher.ledger.drafts import DraftConflict, LintRefused, SendOrder
from publisher.ledger.results import audience_of
from publisher.ledger.subject_tests import DEFAULT_SHARE, SubjectTestError
from publisher.web.console import subject_test_form
from publisher.web.console.auth import actor
from publisher.web.console.campaign_page import campaign_view, existing, own_subject
from publisher.web.console.drafts import sent_already
from publisher.web.console.pages import console_page
from publisher.web.console.roles import Editor, Sender
from publisher.web.console.subject_test_form import TestForm
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

MAX_TEST_RECIPIENTS = 10
#: Longest subject field read (a subject is at most 500 characters: longer is shown as a problem, not refused unread).
MAX_TYPED = 4000
LOCAL_TIME_AND_TEST = (
    "A subject test goes to the whole list at one time, not at each subscriber's local time: "
    "uncheck Local time, or clear the subject variants."
)
TEST_NOT_UNDERSTOOD = "The subject test was not understood: go back to the draft and send again."
_SEPARATORS = re.compile(r"[,\n\r;]+")


def test_addresses(typed: str, own: str) -> tuple[tuple[str, ...], str]:
    """The addresses typed (or the user's own when none are), and the problem with them if any."""
    parts = [part.strip() for part in _SEPARATORS.split(typed) if part.strip()]
    if not parts:
        return (own,), ""
    if len(parts) > MAX_TEST_RECIPIENTS:
        return (), f"At most {MAX_TEST_RECIPIENTS} test recipients: {len(parts)} were given."
    checked: list[str] = []
    for part in parts:
        try:
            checked.append(sendable_email(part))
        except ValueError as exc:
            return (), f"{part[:320]} is not an address this service sends to: {exc}"
    return tuple(dict.fromkeys(checked)), ""


@router.post("/campaigns/{campaign_id}/test", response_class=HTMLResponse)
def send_test(
    request: Request, ctx: Context, user: Editor, campaign_id: int, test_recipients: Annotated[str, Form(max_length=4000)] = ""
) -> Response:
    existing(ctx, campaign_id)
    addresses, problem = test_addresses(test_recipients, user.email)
    if not problem:
        try:
            sending.test(ctx.settings, ctx.db, campaign_id, addresses, actor(request, ctx, user), ctx.provider_check)
        except (ConfigurationError, NotFoundError) as exc:
            problem = str(exc)
    if problem:
        return campaign_view(ctx, user, campaign_id, 422, test_recipients=test_recipients, test_error=problem)
    return RedirectResponse(f"/console/campaigns/{campaign_id}?notice=tested", status_code=303)


def send_time(send_date: str, send_time: str, time_zone: str) -> tuple[dt.datetime | None, str]:
    """The UTC moment a schedule names in the user's time zone, or the problem with it."""
    try:
        # Checked against the zone database's list: ZoneInfo alone opens files such as localtime.
        zone = zones.zone(time_zone.strip() or "UTC")
    except ValueError as exc:
        problem = str(exc)
        return None, f"{problem[:1].upper()}{problem[1:]}."
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(send_date.strip()), dt.time.fromisoformat(send_time.strip()), tzinfo=zone)
    except ValueError:
        return None, "Give a send date (YYYY-MM-DD) and a send time (HH:MM)."
    if not schedulable(local):
        return None, f"Give a send date between {FIRST_YEAR} and {LAST_YEAR}."
    moment = local.astimezone(dt.UTC)
    if moment <= utcnow():
        return None, f"{local:%Y-%m-%d %H:%M} {zone.key} is in the past: choose a later time, or Send now."
    return moment, ""


def schedulable(moment: dt.datetime) -> bool:
    """Whether a send time is in the years FIRST_YEAR to LAST_YEAR: a local time (no offset) by its own year, any other in UTC."""
    if moment.tzinfo is None:
        return FIRST_YEAR <= moment.year <= LAST_YEAR
    try:
        # 0001-01-01T00:00+14:00 has no UTC time at all: within_range says so rather than overflow.
        within_range(moment)
    except ValueError:
        return False
    return True


def local_send_time(send_date: str, send_time: str) -> tuple[dt.datetime | None, str]:
    """The local time (no zone) a schedule in each subscriber's time zone names, or the problem with it."""
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(send_date.strip()), dt.time.fromisoformat(send_time.strip()))
    except ValueError:
        return None, "Give a send date (YYYY-MM-DD) and a send time (HH:MM)."
    if local.tzinfo is not None:
        # As `publish --local-time` says it: each subscriber's zone gives the offset.
        return None, (
            f"{send_time.strip()[:20]!r} has an offset, but Local time sends at that time in each subscriber's time zone: "
            "give it without one (e.g. 09:00)."
        )
    if not schedulable(local):
        return None, f"Give a send date between {FIRST_YEAR} and {LAST_YEAR}."
    return local.replace(second=0, microsecond=0), ""


def past_everywhere(ctx: WebContext, list_name: str | None, local: dt.datetime) -> str:
    """The problem with a local time that has passed in every subscriber's zone (it would go to the whole list at once), or ""."""
    try:
        last = last_local_release(ctx.db, list_name, local) if list_name else None
    except NotFoundError:
        return ""  # the list is gone: the confirmation says so
    if last is None or last[0] > utcnow():
        return ""
    moment, zone = last
    return (
        f"{local:%Y-%m-%d %H:%M} has passed in every subscriber's time zone (the last, {zone}, at {moment:%Y-%m-%d %H:%M} UTC): "
        "choose a later time, or Send now."
    )


def confirmation(ctx: WebContext, user: SignedIn, campaign_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    draft = existing(ctx, campaign_id)
    audience = audience_of(ctx.db, draft.list_name) if draft.list_name else 0
    errors = [f for f in draft.lint.get("findings", []) if f.get("severity") == "error"]
    context: dict[str, Any] = {
        "send_at": "",
        "local": "",
        "typed": "",
        "count_error": "",
        "force": False,
        "refused": [],
        "local_time": False,
        "ab": TestForm(),
    }
    context.update(extra)
    test, _ = subject_test_form.read(context["ab"], own_subject(draft))
    try:
        context["split"] = subject_test_form.split_of(test, audience) if test is not None else None
    except SubjectTestError as exc:
        context.update(split=None, count_error=context["count_error"] or str(exc))
    return console_page(
        "send_confirm.html.j2",
        user,
        status_code,
        title="Confirm send",
        section="campaigns",
        draft=draft,
        campaign_id=campaign_id,
        audience=audience,
        lint_errors=errors,
        own_subject=own_subject(draft),
        **context,
    )


@router.post("/campaigns/{campaign_id}/send", response_class=HTMLResponse)
def ask_to_confirm(
    ctx: Context,
    user: Sender,
    campaign_id: int,
    when: Annotated[str, Form(max_length=20)] = "now",
    send_date: Annotated[str, Form(max_length=20)] = "",
    send_time_: Annotated[str, Form(alias="send_time", max_length=20)] = "",
    time_zone: Annotated[str, Form(max_length=60)] = "UTC",
    local_time: Annotated[str, Form(max_length=10)] = "",
    variant_2: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    variant_3: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    variant_4: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    test_share: Annotated[str, Form(max_length=20)] = str(DEFAULT_SHARE),
    test_wait: Annotated[str, Form(max_length=20)] = "2h",
    test_metric: Annotated[str, Form(max_length=20)] = "opens",
) -> Response:
    """The confirmation page of ``Send now`` or ``Schedule``, with the subject test if one is set up."""
    draft = existing(ctx, campaign_id)
    if draft.status is not CampaignStatus.DRAFT:
        return sent_already(user, campaign_id)
    form = TestForm((variant_2, variant_3, variant_4), test_share, test_wait, test_metric)
    kept: dict[str, Any] = {"send_date": send_date, "send_time": send_time_, "local_time": local_time == "yes", "ab": form}
    test, problems = subject_test_form.read(form, own_subject(draft))
    if test is not None:
        if when == "schedule" and local_time == "yes":
            problems["subject_test"] = LOCAL_TIME_AND_TEST
        audience = audience_of(ctx.db, draft.list_name) if draft.list_name else 0
        problems = problems or subject_test_form.sendable(ctx.settings, ctx.db, draft.list_name, test, audience)
    if problems:
        return campaign_view(ctx, user, campaign_id, 422, ab_errors=problems, **kept)
    tested: dict[str, Any] = {"ab": form} if test is not None else {}
    if when != "schedule":
        return confirmation(ctx, user, campaign_id, **tested)
    if local_time == "yes":
        wall, problem = local_send_time(send_date, send_time_)
        if wall is not None:
            problem = past_everywhere(ctx, draft.list_name, wall)
        if wall is None or problem:
            return campaign_view(ctx, user, campaign_id, 422, schedule_error=problem, **kept)
        return confirmation(ctx, user, campaign_id, send_at=wall.isoformat(), local=f"{wall:%Y-%m-%d %H:%M}", local_time=True)
    moment, problem = send_time(send_date, send_time_, time_zone)
    if moment is None:
        return campaign_view(ctx, user, campaign_id, 422, schedule_error=problem, **kept)
    zone = time_zone.strip() or "UTC"
    local = f"{moment.astimezone(zones.zone(zone)):%Y-%m-%d %H:%M} ({zone})"
    return confirmation(ctx, user, campaign_id, send_at=moment.isoformat(), local=local, **tested)


@router.post("/campaigns/{campaign_id}/send/confirm", response_class=HTMLResponse)
async def confirm_send(
    request: Request,
    ctx: Context,
    user: Sender,
    campaign_id: int,
    recipients: Annotated[str, Form(max_length=20)] = "",
    send_at: Annotated[str, Form(max_length=40)] = "",
    local: Annotated[str, Form(max_length=120)] = "",
    force: Annotated[str, Form(max_length=10)] = "",
    local_time: Annotated[str, Form(max_length=10)] = "",
    variant_2: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    variant_3: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    variant_4: Annotated[str, Form(max_length=MAX_TYPED)] = "",
    test_share: Annotated[str, Form(max_length=20)] = str(DEFAULT_SHARE),
    test_wait: Annotated[str, Form(max_length=20)] = "2h",
    test_metric: Annotated[str, Form(max_length=20)] = "opens",
) -> Response:
    typed = (recipients, send_at, local, force == "yes", local_time == "yes")
    form = TestForm((variant_2, variant_3, variant_4), test_share, test_wait, test_metric)
    return await run_in_threadpool(_confirm, request, ctx, user, campaign_id, typed, form)


def _confirm(
    request: Request, ctx: WebContext, user: SignedIn, campaign_id: int, typed: tuple[str, str, str, bool, bool], form: TestForm
) -> Response:
    recipients, send_at, local, force, in_local_time = typed
    draft = existing(ctx, campaign_id)
    if draft.status is not CampaignStatus.DRAFT:
        return sent_already(user, campaign_id)
    kept = {"send_at": send_at, "local": local, "typed": recipients, "force": force, "local_time": in_local_time, "ab": form}
    # Read again: the confirmation's hidden fields come back from the browser.
    test, problems = subject_test_form.read(form, own_subject(draft))
    if problems or (test is not None and in_local_time):
        # Not the confirmation again: without the test it could be confirmed, and sent without one.
        back = f"/console/campaigns/{campaign_id}"
        return console_page("message.html.j2", user, 422, title="Not sent", section="campaigns", message=TEST_NOT_UNDERSTOOD, back=back)
    try:
        moment = dt.datetime.fromisoformat(send_at) if send_at else None
    except ValueError:
        moment = None
    # A local time has no offset (each zone gives its own); any other send time has one.
    understood = moment is not None and (moment.tzinfo is None) == in_local_time and schedulable(moment)
    if (send_at or in_local_time) and not understood:
        return confirmation(ctx, user, campaign_id, 422, **{**kept, "count_error": "The send time was not understood: schedule again."})
    order = (
        SendOrder(campaign_id, send_at=None, local_time=moment, force=force)
        if in_local_time
        else SendOrder(campaign_id, send_at=moment, force=force)
    )
    order = replace(order, subject_test=test)
    audience = audience_of(ctx.db, draft.list_name) if draft.list_name else 0
    if recipients.strip() != str(audience):
        problem = f"Type the number of recipients, {audience}, to confirm."
        return confirmation(ctx, user, campaign_id, 422, **{**kept, "count_error": problem})
    try:
        created = sending.send(ctx.settings, ctx.db, order, actor(request, ctx, user), ctx.provider_check)
    except DraftConflict:
        return sent_already(user, campaign_id)
    # 409 as in the API: lint errors and a list with no one to send to are the state of the draft or the list, not the request.
    except LintRefused as exc:
        return confirmation(ctx, user, campaign_id, 409, **{**kept, "refused": exc.findings})
    except NotFoundError as exc:
        return confirmation(ctx, user, campaign_id, 409, **{**kept, "count_error": str(exc)})
    except (ConfigurationError, SubjectTestError) as exc:
        return confirmation(ctx, user, campaign_id, 422, **{**kept, "count_error": str(exc)})
    notice = "sent" if created.sent_now else "scheduled"
    return RedirectResponse(f"/console/campaigns/{campaign_id}?notice={notice}", status_code=303)


@router.post("/campaigns/{campaign_id}/approve", response_class=HTMLResponse)
def approve(request: Request, ctx: Context, user: Sender, campaign_id: int) -> Response:
    if existing(ctx, campaign_id).status is not CampaignStatus.DRAFT:
        return sent_already(user, campaign_id)
    try:
        approval.approve(ctx.db, campaign_id, actor(request, ctx, user))
    except LintRefused as exc:
        problem = f"Fix its lint errors first: {'; '.join(f.get('message', '') for f in exc.findings[:5])}"
        return campaign_view(ctx, user, campaign_id, 409, approve_error=problem)
    except approval.EmptyDraft as exc:
        return campaign_view(ctx, user, campaign_id, 422, approve_error=str(exc))
    except DraftConflict as exc:
        return campaign_view(ctx, user, campaign_id, 409, approve_error=str(exc))
    return RedirectResponse(f"/console/campaigns/{campaign_id}?notice=approved", status_code=303)
