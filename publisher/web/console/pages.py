"""Console pages: the shared layout's values and the headers every console answer carries."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from publisher.accounts.roles import Permission, role_allows
from publisher.accounts.sessions import SignedIn
from publisher.web.console.auth import CSRF_FIELD
from publisher.web.render import environment

#: Scripts and styles come from our own static files only; the previews are
#: framed from our own origin; nothing may frame the console itself.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def console_page(template: str, user: SignedIn | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/web/console/<template>`` with the user, their CSRF token and what their role allows."""
    may = {permission.value: user is not None and role_allows(user.role, permission) for permission in Permission}
    html = (
        environment()
        .get_template(f"console/{template}")
        .render(user=user, csrf_field=CSRF_FIELD, csrf_token=user.csrf_token if user else "", may=may, **context)
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
