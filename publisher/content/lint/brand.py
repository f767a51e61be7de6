"""The brand colour's contrast, judged where the layouts use it, so a failure names the setting to change.

The contrast check reads the colours of one rendered email; this one reads
NEWSLETTER_BRAND_COLOR itself, which also colours the subscriber pages, and
says which use of it fails: white text on a button, or link text on the
card and on the brand's pale tint.
"""

from __future__ import annotations

from publisher.content.lint.contrast import AA_NORMAL, CHECK
from publisher.content.lint.report import Finding, Severity
from publisher.core.branding import Brand, contrast

VARIABLE = "NEWSLETTER_BRAND_COLOR"
WHITE = "#ffffff"


def check_brand_colour(brand: Brand) -> list[Finding]:
    """An error for each use of the brand colour below WCAG AA (4.5:1), or one pass with the ratios."""
    uses = {
        "under white button text": contrast(WHITE, brand.color),
        f"as link text on the white card ({WHITE})": contrast(brand.color, WHITE),
        f"as link text on its tint behind event cards and quotes ({brand.tint})": contrast(brand.color, brand.tint),
    }
    failing = [
        Finding(
            CHECK,
            Severity.ERROR,
            f"{VARIABLE} {brand.color} {use} is {ratio:.2f}:1, below {AA_NORMAL:g}:1 (WCAG AA): choose a darker colour",
            VARIABLE,
        )
        for use, ratio in uses.items()
        if ratio < AA_NORMAL
    ]
    if failing:
        return failing
    ratios = ", ".join(f"{ratio:.2f}:1 {use.split(' (')[0]}" for use, ratio in uses.items())
    return [Finding(CHECK, Severity.PASS, f"{VARIABLE} {brand.color} meets WCAG AA: {ratios}", VARIABLE)]
