"""CSS inlining runs premailer's floating-image check only when an email could need it, with the same bytes either way."""

from __future__ import annotations

import pytest
from premailer import Premailer

from publisher.content.recap import load_recap
from publisher.content.rendering import layout
from publisher.content.rendering.markdown import insert_placeholders
from publisher.content.rendering.personalize import PlaceholderFields, new_nonce
from publisher.core.settings import Settings
from tests.support.paths import EXAMPLES

RECAPS = sorted((EXAMPLES / "recaps").glob("*.md"))


def premailer_with_every_check(html: str) -> str:
    """What premailer makes of ``html`` with the project's options and its floating-image check on (its default)."""
    options = {name: value for name, value in layout._PREMAILER_OPTIONS.items() if name != "align_floating_images"}
    return str(Premailer(html, **options).transform())


def page(style: str, img_style: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><style>{style}</style></head><body>"
        f'<p>Text</p><img class="photo" src="https://example.com/a.png" alt="a &gt; b" style="{img_style}" width="10" height="10">'
        "</body></html>"
    )


@pytest.mark.parametrize("recap_path", RECAPS, ids=lambda path: path.stem)
def test_every_example_recap_inlines_to_the_same_bytes_as_premailer_with_every_check(settings: Settings, recap_path: object) -> None:
    recap = load_recap(recap_path)  # type: ignore[arg-type]
    nonce = new_nonce()
    frame = layout.issue_frame(settings, "subscribers")
    html = layout._render_html(recap, insert_placeholders(recap.body, nonce), frame, PlaceholderFields(nonce))
    assert layout.inline_css(html) == premailer_with_every_check(html)


def test_the_seed_recap_needs_no_floating_image_check(settings: Settings) -> None:
    recap = load_recap(EXAMPLES / "recaps" / "modu-product-vs-tech.md")
    issue = layout.render_issue(recap, layout.issue_frame(settings, "subscribers"))
    assert not layout._MAY_FLOAT.search(issue.html)


@pytest.mark.parametrize(
    ("style", "img_style", "align"),
    [
        (".photo { float: left; }", "", "left"),
        (".photo { FLOAT: right; }", "", "right"),
        ("", "float:right", "right"),
        (".photo { fl\\oat: left; }", "", "left"),
        (".photo { float: none; }", "", None),
        (".photo { margin: 0; }", "", None),
    ],
)
def test_a_floated_image_gets_its_align_attribute_as_premailer_gives_it(style: str, img_style: str, align: str | None) -> None:
    html = page(style, img_style)
    inlined = layout.inline_css(html)
    assert inlined == premailer_with_every_check(html)
    assert (f'align="{align}"' in inlined) is (align is not None), inlined
