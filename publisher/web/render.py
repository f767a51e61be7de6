"""Plain HTML pages for subscribers: small, no JavaScript, autoescaped."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from templates import TEMPLATES_DIR


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The web pages' Jinja2 environment: autoescaped, strict about undefined names."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR / "web"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/web/<template>`` as a complete page."""
    html = environment().get_template(template).render(**context)
    # Signed tokens are in these URLs: keep them out of other sites' logs.
    headers = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def message_page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    """A page that only says something: errors and confirmations."""
    return page("message.html.j2", status_code, title=title, message=message)
