"""Plain HTML pages for subscribers: small, no JavaScript, autoescaped, in the brand's name, colour and font."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from publisher.core.branding import Brand
from templates import TEMPLATES_DIR

#: The pages' own font, kept when no brand font is set.
PAGE_FONT = '-apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'


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


def page(template: str, status_code: int = 200, *, brand: Brand, **context: Any) -> HTMLResponse:
    """Render ``templates/web/<template>`` as a complete page, in ``brand``'s colours."""
    # The font goes into the <style> element as it is: escaped, its quotes
    # would be entities there, which CSS does not read. Brand only holds
    # font names checked to have no <, >, & or anything that ends a rule.
    font = Markup(brand.font or PAGE_FONT)  # noqa: S704 (checked by publisher.core.branding.check_font)
    html = environment().get_template(template).render(brand=brand, font=font, **context)
    # Signed tokens are in these URLs: keep them out of other sites' logs.
    headers = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def message_page(title: str, message: str, status_code: int = 200, *, brand: Brand) -> HTMLResponse:
    """A page that only says something: errors and confirmations."""
    return page("message.html.j2", status_code, brand=brand, title=title, message=message)
