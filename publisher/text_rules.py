"""Rules for short texts that end up in headers, pages and terminals: names, subjects, titles.

A control character (C0 or C1, NUL included) or a Unicode line or paragraph
separator has no place in a name: email headers and the message builders
choke on some of them, others fold or split a line where the reader sees
none. Every entry point refuses them with the same reason, so a person is
told which character was wrong instead of one recipient failing later.
"""

from __future__ import annotations

import unicodedata

#: Unicode's own line breaks outside the control characters (category Zl and Zp).
SEPARATORS = {"\u2028": "line separator", "\u2029": "paragraph separator"}


def refuse_control_characters(value: str) -> None:
    """Raise ValueError naming the first control character or line/paragraph separator in ``value``.

    The message reads after a field name: "first_name: contains a control character (U+000A)".
    """
    for char in value:
        kind = SEPARATORS.get(char) or ("control character" if unicodedata.category(char) == "Cc" else None)
        if kind is not None:
            raise ValueError(f"contains a {kind} (U+{ord(char):04X})")
