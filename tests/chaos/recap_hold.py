"""Loaded into one worker of the recap chaos test (``newsletter worker --include tests.chaos.recap_hold``).

When that worker's sweeper thread writes the first row of an event's recap
(the first draft, inside the transaction that also writes the notice and
``recap_done_at``), it says so in the file named by ``RECAP_HOLD_FILE`` and
stops there for good: the test kills the worker at exactly that point, with
no race against a clock.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

SIGNAL = Path(os.environ["RECAP_HOLD_FILE"])
SWEEPER_THREAD = "newsletter-sweeper"


@event.listens_for(Engine, "after_cursor_execute")
def _hold_inside_the_recap(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if threading.current_thread().name == SWEEPER_THREAD and statement.lstrip().upper().startswith("INSERT INTO CAMPAIGNS"):
        SIGNAL.write_text("inside the transaction that writes the recap\n", encoding="utf-8")
        threading.Event().wait()
