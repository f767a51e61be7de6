"""Keep signed tokens and webhook keys out of the access log.

A token in /unsubscribe/…, /preferences/…, /view/… or /confirm/… is a
capability: whoever holds it can act for that subscriber (one in /t/o/… or
/t/c/… names who opened or clicked what). The last part of
/webhooks/events/eventbrite/… and /webhooks/events/luma/… is the secret key
those platforms' webhooks are accepted with. uvicorn logs every request
path, so that part is replaced before the line is written.
"""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"^(/(?:unsubscribe|preferences|view|confirm|t/o|t/c|webhooks/events/eventbrite|webhooks/events/luma)/)[^/?\s]+")


def redact_path(path: str) -> str:
    return TOKEN_PATH.sub(r"\1[token]", path)


class RedactTokens(logging.Filter):
    """A filter for the ``uvicorn.access`` logger, whose args are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = redact_path(args[2])
            record.args = (args[0], args[1], path, args[3], args[4])
            # Fields of their own in a JSON log (NEWSLETTER_LOG_FORMAT=json); the text line ignores them.
            record.method, record.path, record.status = args[1], path, args[4]
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
