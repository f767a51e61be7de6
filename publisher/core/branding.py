"""The brand: name, logo, colour and font shared by the emails and the subscriber pages.

Every value is checked before it gets near a stylesheet or a page. The colour
and the font are written into CSS as they are (an HTML escape would break
CSS), so each is held to a shape that cannot end a declaration, a rule or a
``<style>`` element: ``#rrggbb`` for the colour; for the font, family names
made of letters, digits, spaces and hyphens, quoted or not, between commas.
The defaults are the layout's own look, so nothing changes until a brand is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.core.text_rules import refuse_control_characters

#: The layouts' blue: buttons and links when no brand colour is set, with
#: the pale blue and the light blue (for dark mode) that go with it.
DEFAULT_COLOR = "#1d4ed8"
DEFAULT_TINT = "#eef2ff"
DEFAULT_DARK_LINK = "#93c5fd"
#: The logo's box when no size is set: wide rather than tall, as most logos are.
DEFAULT_LOGO_SIZE = "160x40"
MAX_NAME = 100
MAX_FONT = 200
MAX_URL = 2000
#: Outlook needs the logo's size in pixels; the bounds keep it inside the 600 px card.
MAX_LOGO_WIDTH, MAX_LOGO_HEIGHT = 536, 200
#: The lightest background of the dark-mode layout (quotes, event cards): links there need their own, lighter colour.
DARK_SURFACE = "#273449"
#: How much white the brand's tint (behind quotes and event cards) is made of.
TINT_WHITE = 0.92
AA_NORMAL = 4.5

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_FAMILY = r"""(?:"[A-Za-z0-9 -]+"|'[A-Za-z0-9 -]+'|[A-Za-z0-9 -]*[A-Za-z0-9][A-Za-z0-9 -]*)"""
_FONT = re.compile(rf"\s*{_FAMILY}\s*(?:,\s*{_FAMILY}\s*)*")
_LOGO_SIZE = re.compile(r"([0-9]{1,4})x([0-9]{1,4})")


def check_color(value: str) -> str:
    """``value`` as a lower-case ``#rrggbb`` colour, or ValueError saying what is allowed."""
    if not _COLOR.fullmatch(value):
        raise ValueError(f"{value!r} is not a colour: give six hex digits after a #, such as #1d4ed8")
    return value.lower()


def check_font(value: str) -> str:
    """``value`` as a CSS font-family list, or ValueError: letters, digits, spaces, hyphens, quotes around a name, commas between."""
    if len(value) > MAX_FONT or not _FONT.fullmatch(value):
        raise ValueError(
            f"{value[:60]!r} is not a font-family list: use letters, digits, spaces and hyphens, "
            "a name in matching quotes, commas between names (at most "
            f"{MAX_FONT} characters), such as \"'Open Sans', Arial, sans-serif\""
        )
    return ", ".join(family.strip() for family in value.split(","))


def check_name(value: str) -> str:
    """``value`` as one line of at most 100 characters, or ValueError."""
    value = value.strip()
    if not value or len(value) > MAX_NAME:
        raise ValueError(f"give 1 to {MAX_NAME} characters")
    refuse_control_characters(value)
    return value


def check_logo_url(value: str) -> str:
    """``value`` as an https URL with no space, quote or angle bracket, or ValueError."""
    if not value.startswith("https://") or len(value) > MAX_URL or re.search(r"[\s\"'<>\\]", value) or len(value) <= len("https://"):
        raise ValueError("give an https URL (clients block images over plain http) of at most 2000 characters, without spaces or quotes")
    return value


def check_logo_size(value: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels as a pair, or ValueError naming the bounds."""
    match = _LOGO_SIZE.fullmatch(value.strip())
    width, height = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (0 < width <= MAX_LOGO_WIDTH and 0 < height <= MAX_LOGO_HEIGHT):
        raise ValueError(f"give the logo's size in pixels as WIDTHxHEIGHT, at most {MAX_LOGO_WIDTH}x{MAX_LOGO_HEIGHT}, such as 160x40")
    return width, height


@dataclass(frozen=True)
class Brand:
    """What the layouts show of the sender; checked again here, so a Brand built in code is as safe as one from settings."""

    #: Shown in the email's masthead and at the top of the subscriber pages; the logo's text alternative.
    name: str | None = None
    logo_url: str | None = None
    logo_width: int = 160
    logo_height: int = 40
    #: Buttons and links.
    color: str = DEFAULT_COLOR
    #: The font-family list of every text; None keeps the layouts' own fonts.
    font: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            object.__setattr__(self, "name", check_name(self.name))
        if self.logo_url is not None:
            check_logo_url(self.logo_url)
            if self.name is None:
                raise ValueError("a logo needs the brand name as its text alternative")
        check_logo_size(f"{self.logo_width}x{self.logo_height}")
        object.__setattr__(self, "color", check_color(self.color))
        if self.font is not None:
            object.__setattr__(self, "font", check_font(self.font))

    @property
    def dark_link_color(self) -> str:
        """The brand colour lightened until it reads on every dark-mode background (WCAG AA)."""
        return DEFAULT_DARK_LINK if self.color == DEFAULT_COLOR else readable_on(self.color, DARK_SURFACE)

    @property
    def tint(self) -> str:
        """A pale wash of the brand colour, behind quotes and event cards."""
        return DEFAULT_TINT if self.color == DEFAULT_COLOR else mix_with_white(self.color, TINT_WHITE)


def readable_on(color: str, background: str) -> str:
    """``color`` mixed with white, in steps of 5 %, until its contrast with ``background`` is at least 4.5:1."""
    for step in range(21):
        candidate = mix_with_white(color, step / 20)
        if contrast(candidate, background) >= AA_NORMAL:
            return candidate
    return "#ffffff"


def mix_with_white(color: str, share: float) -> str:
    """``color`` with ``share`` (0 to 1) of white mixed in."""
    return "#" + "".join(f"{round(channel + (255 - channel) * share):02x}" for channel in _channels(color))


def contrast(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _channels(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _luminance(color: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = _channels(color)
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
