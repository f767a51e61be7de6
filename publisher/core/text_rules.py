"""One rule for text that must stay on one line: no control characters, no line or paragraph separators.

Subjects, titles, preheaders and names end up in mail headers and on one
line of a page. A control character there (C0 and C1, NUL, tab and DEL
included) or U+2028/U+2029 makes message building fail for the whole batch,
or splits what a reader sees; so such text is refused where it enters, with
the character named, rather than repaired later. Text from outside that is only shown or logged
(an endpoint's HTTP reason phrase, say) is made one printable line instead
(:func:`printable_line`).
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode categories refused: Cc is C0, DEL and C1 (tab, LF, CR, NUL, ESC, NEL…); Zl and Zp are U+2028 and U+2029.
REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: The characters of those categories, which Unicode never changes: searched in C, as an import checks millions of values.
REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def first_control_character(value: str) -> str | None:
    """The first refused character of ``value``, or None when there is none."""
    found = REFUSED.search(value)
    return None if found is None else found.group()


def refuse_control_characters(value: str) -> str:
    """Return ``value`` unchanged; raise ValueError naming the first refused character it holds."""
    char = first_control_character(value)
    if char is not None:
        raise ValueError(f"must be a single line of text: it contains {describe_character(char)}")
    return value


def describe_character(char: str) -> str:
    """How a refused character is named in a message: 'a line break (U+000A)', 'a control character (U+001B)'."""
    code = f"U+{ord(char):04X}"
    if char in "\r\n" or unicodedata.category(char) in ("Zl", "Zp") or char == "\x85":
        return f"a line break ({code})"
    if char == "\t":
        return f"a tab ({code})"
    return f"a control character ({code})"


#: Categories dropped from text made printable: format (bidi overrides, zero-width), surrogates, private use, unassigned.
_UNPRINTABLE_CATEGORIES = frozenset({"Cf", "Cs", "Co", "Cn"})


def printable_line(value: str) -> str:
    """``value`` as one printable line: refused characters become spaces, invisible ones go, runs of spaces become one."""
    spaced = REFUSED.sub(" ", value)
    kept = "".join(char for char in spaced if unicodedata.category(char) not in _UNPRINTABLE_CATEGORIES)
    return " ".join(kept.split())
