"""CSS colours as numbers, and the WCAG 2 contrast ratio between two of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cssutils.css.colors import COLORS  # type: ignore[import-untyped]  # the CSS named-colour table, untyped

_HEX = re.compile(r"#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_RGB = re.compile(r"rgba?\(\s*([^)]*)\)")


@dataclass(frozen=True)
class Colour:
    """An sRGB colour, channels 0–255, alpha 0–1."""

    red: float
    green: float
    blue: float
    alpha: float = 1.0

    def over(self, background: Colour) -> Colour:
        """Composite this colour over an opaque ``background``."""
        if self.alpha >= 1:
            return self

        def mix(top: float, bottom: float) -> float:
            return top * self.alpha + bottom * (1 - self.alpha)

        return Colour(mix(self.red, background.red), mix(self.green, background.green), mix(self.blue, background.blue))

    @property
    def luminance(self) -> float:
        """Return the WCAG relative luminance."""

        def linear(channel: float) -> float:
            value = channel / 255
            return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

        return 0.2126 * linear(self.red) + 0.7152 * linear(self.green) + 0.0722 * linear(self.blue)


WHITE = Colour(255, 255, 255)


def parse_colour(value: str) -> Colour | None:
    """Read ``#rgb``, ``#rrggbb`` (with optional alpha), ``rgb()``, ``rgba()`` or a colour name; None otherwise."""
    text = value.strip().lower().removesuffix("!important").strip()
    hex_match = _HEX.fullmatch(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(digit * 2 for digit in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return Colour(channels[0], channels[1], channels[2], alpha)
    rgb_match = _RGB.fullmatch(text)
    if rgb_match:
        return _functional(rgb_match.group(1))
    named = COLORS.get(text)
    if named is not None:
        red, green, blue, alpha = named
        return Colour(float(red), float(green), float(blue), float(alpha))
    return None


def _functional(arguments: str) -> Colour | None:
    parts = [part for part in re.split(r"[\s,/]+", arguments.strip()) if part]
    if len(parts) not in (3, 4):
        return None
    try:
        channels = [float(part[:-1]) * 2.55 if part.endswith("%") else float(part) for part in parts[:3]]
        alpha = 1.0
        if len(parts) == 4:
            alpha = float(parts[3][:-1]) / 100 if parts[3].endswith("%") else float(parts[3])
    except ValueError:
        return None
    red, green, blue = (min(255.0, max(0.0, channel)) for channel in channels)
    return Colour(red, green, blue, min(1.0, max(0.0, alpha)))


def find_colour(value: str) -> Colour | None:
    """Return the colour inside a shorthand such as ``background: url(x.png) #fff no-repeat``."""
    whole = parse_colour(value)
    if whole is not None:
        return whole
    # A file name inside url() may well be "red.png": never read colours there.
    without_urls = re.sub(r"url\([^)]*\)", " ", value)
    for token in re.findall(r"rgba?\([^)]*\)|#[0-9a-fA-F]+|[a-zA-Z]+", without_urls):
        colour = parse_colour(token)
        if colour is not None:
            return colour
    return None


def contrast_ratio(foreground: Colour, background: Colour) -> float:
    """Return the WCAG contrast ratio, from 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((foreground.luminance, background.luminance), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
