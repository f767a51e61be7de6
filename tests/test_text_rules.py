"""The shared rule for short texts: control characters and line/paragraph separators are refused, with the character named."""

from __future__ import annotations

import re
import unicodedata

import pytest

from publisher.core.text_rules import REFUSED_CATEGORIES, first_control_character, refuse_control_characters


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Ada\x00", "a control character (U+0000)"),
        ("Ada\r\nBcc: x", "a line break (U+000D)"),
        ("Ada\tLovelace", "a tab (U+0009)"),
        ("Ada\x1bLovelace", "a control character (U+001B)"),
        ("Ada\x7f", "a control character (U+007F)"),
        ("Ada\x85Lovelace", "a line break (U+0085)"),
        ("Ada\u2028Lovelace", "a line break (U+2028)"),
        ("Ada\u2029Lovelace", "a line break (U+2029)"),
    ],
)
def test_control_characters_and_separators_are_refused_with_the_character_named(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^must be a single line of text: it contains {re.escape(reason)}$"):
        refuse_control_characters(value)


@pytest.mark.parametrize("value", ["", "Zoë O'Brien", "李 小龍", "名前 😀", "Ada\u00a0Lovelace"])
def test_ordinary_names_pass(value: str) -> None:
    refuse_control_characters(value)


def test_the_refused_characters_are_exactly_those_of_the_refused_unicode_categories() -> None:
    """The rule is searched with a character class; it must name the same characters as the categories do, in every plane."""
    every = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    by_category = [char for char in every if unicodedata.category(char) in REFUSED_CATEGORIES]
    assert [char for char in every if first_control_character(char) is not None] == by_category
    assert len(by_category) == 67  # 65 control characters, U+2028 and U+2029
