"""The event platforms' deliveries, handled off the web app's request: thin, the domain code is in publisher.events.platforms.

The platform was answered 200 when the call was queued, so it will not
deliver again: what cannot be done now is tried again here. A delivery the
platform's API cannot give now (no answer, 429, a 5xx), one the database
cannot take now (unreachable, a lost connection), and a check-in that
arrived before the registration it names are tried again with a growing
wait, each kept under NEWSLETTER_MAX_COUNTDOWN so it never sits in Redis as
a long ETA message; after the last try it is logged and dropped (the
platform's next delivery about the same object reads it again). A delivery that cannot be used (a field no event or person
can hold, credentials refused, an object that does not exist) is logged and
dropped at once: trying again would give the same answer.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from publisher.core.errors import DatabaseUnavailableError
from publisher.events.catalogue import EventError
from publisher.events.platforms import receive_message
from publisher.events.platforms.delivery import RegistrantNotYetKnown
from publisher.events.platforms.fetching import PlatformRefused, PlatformUnavailable
from publisher.events.platforms.values import PayloadError
from publisher.queue import TASK_EVENT_DELIVERY
from workers.celery_app import app, current_settings
from workers.runtime import worker_context

log = logging.getLogger(__name__)

#: Tries after the first, with waits of 5, 10, 20, 40 and then 60 seconds (about 5 minutes in all).
RETRIES = 8
FIRST_WAIT = 5.0


@app.task(bind=True, name=TASK_EVENT_DELIVERY, max_retries=RETRIES, ignore_result=True)
def receive_event_delivery(self: Task, source: str, message: dict[str, Any]) -> None:
    """Apply one verified delivery from an event platform (reading the platform's API first where it only names an object)."""
    settings = current_settings()
    try:
        ctx = worker_context()
        applied = receive_message(ctx.db, ctx.settings, source, message)
    except (PlatformUnavailable, RegistrantNotYetKnown, OperationalError, DatabaseUnavailableError) as exc:
        if self.request.retries >= RETRIES:
            log.error("%s delivery dropped after %d tries: %s", source, RETRIES + 1, _shown(exc))
            return
        retry_after = exc.retry_after if isinstance(exc, PlatformUnavailable) else None
        wait = retry_after if retry_after is not None else FIRST_WAIT * 2**self.request.retries
        log.warning("%s delivery not applied yet, tried again in %.0f s: %s", source, wait, _shown(exc))
        raise self.retry(countdown=min(wait, settings.max_countdown)) from exc
    except (PayloadError, EventError, PlatformRefused) as exc:
        log.warning("%s delivery not applied: %s", source, exc)
        return
    if applied.duplicate:
        log.info("%s delivery for %s had been applied already", source, applied.slug)


def _shown(exc: Exception) -> str:
    # A driver's error spans lines and may quote the statement: its first line says enough.
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
