"""Loading a command's modules with Python's cyclic garbage collector paused.

Importing what ``newsletter publish`` needs (SQLAlchemy and the models,
Jinja2, premailer, cssutils, Celery, redis) leaves about 128,000 objects
the collector tracks, nearly all alive as long as the process, and makes
next to no cyclic garbage; yet every 700 allocations set off a collection
that walked them again: about a sixth of the CPU time of those imports. So the
collector is off while a command's modules load; afterwards ``gc.freeze``
moves what they built out of its sight (later full collections, during a
large publish for instance, no longer walk it) and the collector runs again
for the command itself, long-running or not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """Run the imports inside with the cyclic collector paused, then freeze what they built and resume it."""
    if not gc.isenabled():
        # Already paused (a ``loading`` around this one, or the embedding program): theirs to resume.
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
