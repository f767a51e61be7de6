"""Stored text on the terminal: control characters escaped, nothing in it taken for markup.

Bounce texts relay a remote server's words verbatim, and titles, list names
and reasons are typed by people: any of them may hold an escape sequence
that would recolour, retitle or clear the operator's terminal. Every CLI
printer passes stored text through :func:`safe` (text) or :func:`safe_json`
(``--json``), and prints with rich markup and emoji codes off, so
``[bold]`` or ``:warning:`` in a title is printed as typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

#: C0 (ESC, NUL, line breaks, tab), DEL and C1 controls, the line and paragraph
#: separators, and the bidirectional overrides that reorder what follows them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: What ``json.dumps`` leaves raw with ``ensure_ascii=False``: it escapes C0 itself.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def safe(value: object) -> str:
    """``str(value)`` with every control character shown as an escape (``\\x1b``, ``\\n``, ``\\u2028``), on one line."""
    return _UNSAFE.sub(_escape, str(value))


def safe_json(data: object) -> str:
    """``data`` as indented JSON that keeps non-ASCII text readable and escapes every control character.

    The escapes are JSON's own (``\\u009b``): a program reading the output gets the stored text exactly.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def safe_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A rich table of stored values, each escaped with :func:`safe` and set as plain text.

    Text cells, not strings: a string cell would be parsed as rich markup.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(safe(cell)) for cell in row))
    return table
