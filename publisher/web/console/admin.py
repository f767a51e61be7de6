"""The admin page: users and roles, API tokens, outgoing webhooks and the audit log; for admins only (403 for anyone else).

The changes are in ``admin_users``, ``admin_tokens`` and ``admin_webhooks``;
this module draws the page they all answer with. A generated password, a new
token and a new webhook endpoint's signing secret are shown once, on the answer to the POST that made them, and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from publisher.accounts.audit import entries
from publisher.accounts.roles import Role, Scope
from publisher.accounts.sessions import SignedIn
from publisher.accounts.tokens import list_tokens
from publisher.accounts.users import list_users
from publisher.outgoing_webhooks.endpoints import list_endpoints
from publisher.outgoing_webhooks.events import EVENT_TYPES
from publisher.web.console.access import Admin
from publisher.web.console.pages import console_page
from publisher.web.deps import Context, WebContext

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

AUDIT_PAGE = 50
MAX_ID = 2**62


def admin_page(ctx: WebContext, user: SignedIn, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The admin page with ``context`` (errors, what was typed, a secret to show once) over the defaults."""
    values: dict[str, Any] = {
        "errors": {},
        "notice": "",
        "typed": {},
        "shown_once": None,
        "campaign": "",
        "before": None,
    } | context
    campaign_id = int(values["campaign"]) if str(values["campaign"]).isdigit() else None
    log = entries(ctx.db, campaign_id=campaign_id, limit=AUDIT_PAGE + 1, before=values["before"])
    return console_page(
        "admin.html.j2",
        user,
        status_code,
        title="Admin",
        section="admin",
        users=list_users(ctx.db),
        tokens=list_tokens(ctx.db),
        roles=[role.value for role in Role],
        scopes=[scope.value for scope in Scope],
        webhooks=list_endpoints(ctx.db),
        event_types=EVENT_TYPES,
        audit=log[:AUDIT_PAGE],
        older=log[AUDIT_PAGE - 1].id if len(log) > AUDIT_PAGE else None,
        **values,
    )


@router.get("/admin", response_class=HTMLResponse)
def admin(
    ctx: Context,
    user: Admin,
    campaign: Annotated[str, Query(max_length=20)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    campaign = campaign.strip()
    if campaign and not campaign.isdigit():
        return admin_page(ctx, user, 400, errors={"campaign": f"'{campaign}' is not a campaign id: type its number"}, campaign=campaign)
    return admin_page(ctx, user, campaign=campaign, before=before, notice=DONE.get(done, ""))


DONE = {
    "removed": "The user was removed.",
    "role": "The role was changed.",
    "revoked": "The token was revoked: requests carrying it are refused from now on.",
    "webhook-removed": "The webhook endpoint was removed, with the messages waiting for it.",
    "webhook-enabled": "The webhook endpoint was enabled: the messages waiting for it are sent now.",
}
