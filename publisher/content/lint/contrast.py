"""Text contrast (WCAG 2.1 AA) for every element whose inline style sets a colour.

Only inline styles count: they are what every client applies. The dark-mode
colours in the ``<style>`` block are the client's to apply and are not judged.
"""

from __future__ import annotations

import re

from publisher.content.lint.colours import WHITE, Colour, contrast_ratio, find_colour, parse_colour
from publisher.content.lint.document import BOLD_BY_DEFAULT, Document, Element, describe
from publisher.content.lint.report import Finding, Severity

CHECK = "contrast"
AA_NORMAL = 4.5
AA_LARGE = 3.0
#: WCAG "large text": 18pt (24px), or 14pt (18.66px) when bold.
LARGE_PX = 24.0
LARGE_BOLD_PX = 18.66
DEFAULT_FONT_PX = 16.0

_LENGTH = re.compile(r"([\d.]+)\s*(px|pt)?")


def check_contrast(doc: Document) -> list[Finding]:
    """Compare each inline text colour with the background it sits on."""
    findings: list[Finding] = []
    checked = 0
    for element in doc.elements():
        value = doc.inline_value(element, "color")
        if value is None or doc.hidden(element) or not element.text_content().strip():
            continue
        foreground = parse_colour(value)
        if foreground is None:
            findings.append(Finding(CHECK, Severity.WARNING, f"cannot read colour {value!r}: contrast not checked", describe(element)))
            continue
        background = _background(doc, element)
        ratio = contrast_ratio(foreground.over(background), background)
        large = _is_large(doc, element)
        needed = AA_LARGE if large else AA_NORMAL
        checked += 1
        if ratio < needed:
            size = "large" if large else "normal"
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"{value} on {_hex(background)} is {ratio:.2f}:1, below {needed:g}:1 for {size} text ({_snippet(element)})",
                    describe(element),
                )
            )
    if not any(finding.severity is Severity.ERROR for finding in findings):
        findings.append(Finding(CHECK, Severity.PASS, f"{checked} coloured element(s) meet WCAG AA"))
    return findings


def _background(doc: Document, element: Element) -> Colour:
    """Return the opaque colour behind ``element``: the nearest set background, white when none is."""
    layers: list[Colour] = []
    for candidate in (element, *element.iterancestors()):
        colour = _own_background(doc, candidate)
        if colour is None:
            continue
        layers.append(colour)
        if colour.alpha >= 1:
            break
    result = WHITE
    for layer in reversed(layers):
        result = layer.over(result)
    return result


def _own_background(doc: Document, element: Element) -> Colour | None:
    for name in ("background-color", "background"):
        value = doc.inline_value(element, name)
        if value is not None:
            colour = find_colour(value)
            if colour is not None:
                return colour
    bgcolor = element.get("bgcolor")
    return parse_colour(bgcolor) if bgcolor else None


def _is_large(doc: Document, element: Element) -> bool:
    size = _font_px(doc, element)
    if size >= LARGE_PX:
        return True
    return size >= LARGE_BOLD_PX and _is_bold(doc, element)


def _font_px(doc: Document, element: Element) -> float:
    found = doc.inherited_value(element, "font-size")
    if found is None:
        return DEFAULT_FONT_PX
    match = _LENGTH.match(found[0].strip())
    if match is None:
        # em, %, keywords: assume normal size, the stricter threshold.
        return DEFAULT_FONT_PX
    number = float(match.group(1))
    if match.group(2) == "pt":
        return number * 4 / 3
    return number if match.group(2) == "px" else DEFAULT_FONT_PX


def _is_bold(doc: Document, element: Element) -> bool:
    for candidate in (element, *element.iterancestors()):
        weight = doc.inline_value(candidate, "font-weight")
        if weight is not None:
            weight = weight.strip().lower()
            return weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 700)
        if candidate.tag in BOLD_BY_DEFAULT:
            return True
    return False


def _hex(colour: Colour) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in (colour.red, colour.green, colour.blue))


def _snippet(element: Element) -> str:
    text = " ".join(element.text_content().split())
    return f'"{text[:40]}…"' if len(text) > 40 else f'"{text}"'
