"""Terminal-safe text: every control character shown as an escape, everything else as it is."""

from __future__ import annotations

import json
import re

from publisher.cli.terminal import safe, safe_json

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_safe_escapes_controls_separators_and_bidi_overrides_and_keeps_the_rest() -> None:
    assert safe("a\x1b[31mb\tc\nd\x85e\u2028f\u202eg\x00") == "a\\x1b[31mb\\tc\\nd\\x85e\\u2028f\\u202eg\\x00"
    assert safe("Zoë — 東京 🎉 [bold] \\x") == "Zoë — 東京 🎉 [bold] \\x"


def test_safe_json_round_trips_and_leaves_no_raw_control_character() -> None:
    value = {"t": "a\x1b\x9b\x85\u2028\u202eé\n"}
    text = safe_json(value)
    assert not RAW.search(text) and "é" in text
    assert json.loads(text) == value
