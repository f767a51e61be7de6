"""The shared rule for short texts: control characters and line/paragraph separators are refused, with the character named."""

from __future__ import annotations

import re

import pytest

from publisher.text_rules import refuse_control_characters


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Ada\x00", "contains a control character (U+0000)"),
        ("Ada\r\nBcc: x", "contains a control character (U+000D)"),
        ("Ada\x1bLovelace", "contains a control character (U+001B)"),
        ("Ada\x7f", "contains a control character (U+007F)"),
        ("Ada\x85Lovelace", "contains a control character (U+0085)"),
        ("Ada\u2028Lovelace", "contains a line separator (U+2028)"),
        ("Ada\u2029Lovelace", "contains a paragraph separator (U+2029)"),
    ],
)
def test_control_characters_and_separators_are_refused_with_the_character_named(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        refuse_control_characters(value)


@pytest.mark.parametrize("value", ["", "Zoë O'Brien", "李 小龍", "名前 😀", "Ada\u00a0Lovelace"])
def test_ordinary_names_pass(value: str) -> None:
    refuse_control_characters(value)
