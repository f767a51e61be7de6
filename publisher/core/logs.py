"""Where log lines go and how they look: NEWSLETTER_LOG_FORMAT, text or json.

``json`` writes one object per line to stderr, with ``time``, ``level``,
``logger`` and ``message`` always, whatever a caller adds with ``extra=``
(delivery lines add ``campaign_id``, ``batch_id``, ``provider`` and
``outcome``), and a traceback as the ``exc_info`` string: an exception stays
on its one line, so a log collector never splits it.
"""

from __future__ import annotations

import logging
import sys
import time

from pythonjsonlogger.json import JsonFormatter

from publisher.core.settings import LogFormat

#: The text layout, Celery's own: the worker's lines read as they always have.
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installs, told apart from any other on the root logger."""


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        # ISO 8601 in UTC, with milliseconds: what log collectors parse without being told.
        json = JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, json_ensure_ascii=False)
        json.default_time_format = "%Y-%m-%dT%H:%M:%S"
        json.default_msec_format = "%s.%03dZ"
        json.converter = _utc
        return json
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: LogFormat, level: int | str = logging.INFO) -> None:
    """Send every logger's records to stderr in ``log_format``; calling it again replaces what it installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings would otherwise reach stderr as raw text lines, outside the format.
    logging.captureWarnings(True)


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)
