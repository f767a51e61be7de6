"""Keep signed tokens and webhook keys out of the access log.

A token in /unsubscribe/…, /preferences/…, /view/… or /confirm/… is a
capability: whoever holds it can act for that subscriber (one in /t/o/… or
/t/c/… names who opened or clicked what). The last part of
/webhooks/events/eventbrite/… and /webhooks/events/luma/… is the secret key
those platforms' webhooks are accepted with. uvicorn logs every request
path, so that part is replaced before the line is written.

The line of an open or a click (/t/…) is written without the client's
address: with its time it would tie a reader's address to an engagement,
which tracking promises never to keep (docs/privacy.md). ``-`` stands in its
place, as in the common log format.
"""

from __future__ import annotations

import logging
import re

#: The tracking routes, whose lines keep no client address.
TRACKING_PATH = "/t/"
TOKEN_PATH = re.compile(r"^(/(?:unsubscribe|preferences|view|confirm|t/o|t/c|webhooks/events/eventbrite|webhooks/events/luma)/)[^/?\s]+")


def redact_path(path: str) -> str:
    return TOKEN_PATH.sub(r"\1[token]", path)


class RedactTokens(logging.Filter):
    """A filter for the ``uvicorn.access`` logger, whose args are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = redact_path(args[2])
            client = "-" if args[2].startswith(TRACKING_PATH) else args[0]
            record.args = (client, args[1], path, args[3], args[4])
            # Fields of their own in a JSON log (NEWSLETTER_LOG_FORMAT=json); the text line ignores them.
            record.method, record.path, record.status = args[1], path, args[4]
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
