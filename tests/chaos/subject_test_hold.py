"""Loaded into one worker of the subject test chaos test (``newsletter worker --include tests.chaos.subject_test_hold``).

``SUBJECT_HOLD=decision``: when the worker's sweeper thread gives the
remainder's records the winner's number (inside the transaction that also
writes the decision and releases the remainder), it says so in the file named
by ``SUBJECT_HOLD_FILE`` and stops there for good.

``SUBJECT_HOLD=results``: when a delivery process is about to write the
results of a provider call the provider has already accepted, it does the
same: the emails are out, the ledger does not know it yet.

Either way the test kills the worker at exactly that point, with no race
against a clock.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

SIGNAL = Path(os.environ["SUBJECT_HOLD_FILE"])
HOLD = os.environ["SUBJECT_HOLD"]
SWEEPER_THREAD = "newsletter-sweeper"


def _holds(statement: str) -> bool:
    text = " ".join(statement.split()).upper()
    if HOLD == "decision":
        # The remainder's records given the winner's number (the ORM adds updated_at before it).
        return threading.current_thread().name == SWEEPER_THREAD and text.startswith("UPDATE DELIVERIES SET") and " VARIANT=" in text
    # The results of a call: one UPDATE of the batch's records from a JSON document of rows.
    return text.startswith("UPDATE DELIVERIES SET STATE") and ("JSON_EACH" in text or "JSON_TO_RECORDSET" in text)


@event.listens_for(Engine, "after_cursor_execute")
def _hold_after(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if HOLD == "decision" and _holds(statement):
        SIGNAL.write_text("inside the transaction that decides the winner\n", encoding="utf-8")
        threading.Event().wait()


@event.listens_for(Engine, "before_cursor_execute")
def _hold_before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if HOLD == "results" and _holds(statement):
        SIGNAL.write_text("the provider accepted a call; its results are not written\n", encoding="utf-8")
        threading.Event().wait()
