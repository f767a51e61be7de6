"""``Pick this winner`` on a campaign's subject test (senders), after ``Confirm pick``.

The pick is ``publisher.sending.pick_winner``, as ``newsletter pick-winner``
and the API make it: one transaction that decides once, then the remainder's
batches are enqueued. A test decided meanwhile (by the sweep, or by another
sender) is a 409 page saying how it was decided.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from publisher import sending
from publisher.accounts.sessions import SignedIn
from publisher.core.errors import NotFoundError
from publisher.ledger.subject_test_decision import DecisionConflict
from publisher.ledger.subject_test_figures import subject_test_progress
from publisher.ledger.subject_tests import SubjectTestError
from publisher.web.console.auth import actor
from publisher.web.console.campaign_page import existing
from publisher.web.console.pages import console_page
from publisher.web.console.roles import Sender
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

#: A variant number as the form sends it.
_VARIANT = re.compile(r"[0-9]{1,2}")


def _refused(user: SignedIn, campaign_id: int, status_code: int, message: str) -> HTMLResponse:
    title = "Not now" if status_code == 409 else "That did not work"
    back = f"/console/campaigns/{campaign_id}"
    return console_page("message.html.j2", user, status_code, title=title, section="campaigns", message=message, back=back)


def _variant(ctx: WebContext, user: SignedIn, campaign_id: int, typed: str) -> tuple[int, str] | HTMLResponse:
    """The variant asked for and its subject, or the page that says why there is none to pick."""
    existing(ctx, campaign_id)
    progress = subject_test_progress(ctx.db, campaign_id)
    if progress is None:
        return _refused(user, campaign_id, 409, f"Campaign {campaign_id} has no subject test: there is no winner to pick.")
    numbers = {variant.number: variant.subject for variant in progress.variants}
    # ASCII digits only: str.isdigit also takes ² (which int() refuses) and other scripts' digits.
    number = int(typed) if _VARIANT.fullmatch(typed.strip()) else 0
    if number not in numbers:
        return _refused(user, campaign_id, 422, f"Choose one of the variants 1 to {len(numbers)}.")
    if progress.winner is not None:
        return _refused(user, campaign_id, 409, f"The winner was decided already: variant {progress.winner}.")
    return number, numbers[number]


@router.post("/campaigns/{campaign_id}/pick-winner", response_class=HTMLResponse)
def ask_to_pick(ctx: Context, user: Sender, campaign_id: int, variant: Annotated[str, Form(max_length=10)] = "") -> Response:
    chosen = _variant(ctx, user, campaign_id, variant)
    if isinstance(chosen, HTMLResponse):
        return chosen
    number, subject = chosen
    progress = subject_test_progress(ctx.db, campaign_id)
    assert progress is not None
    return console_page(
        "pick_winner_confirm.html.j2",
        user,
        title="Pick the winner",
        section="campaigns",
        campaign_id=campaign_id,
        number=number,
        subject=subject,
        remainder=progress.remainder_recipients,
    )


@router.post("/campaigns/{campaign_id}/pick-winner/confirm", response_class=HTMLResponse)
def pick(request: Request, ctx: Context, user: Sender, campaign_id: int, variant: Annotated[str, Form(max_length=10)] = "") -> Response:
    chosen = _variant(ctx, user, campaign_id, variant)
    if isinstance(chosen, HTMLResponse):
        return chosen
    try:
        sending.pick_winner(ctx.settings, ctx.db, campaign_id, chosen[0], actor(request, ctx, user))
    except DecisionConflict as exc:
        return _refused(user, campaign_id, 409, f"{exc}.")
    except (SubjectTestError, NotFoundError) as exc:
        return _refused(user, campaign_id, 422, f"{exc}.")
    return RedirectResponse(f"/console/campaigns/{campaign_id}?notice=picked", status_code=303)
