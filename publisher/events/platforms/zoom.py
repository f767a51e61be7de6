"""Zoom webinar events, read into a Delivery.

Zoom posts ``{"event": …, "event_ts": <ms>, "payload": {"account_id": …,
"object": {…}}}``; the object is the webinar (``id``, ``uuid``, ``topic``,
``start_time``, ``duration`` in minutes, ``timezone``), with a ``registrant``
or a ``participant`` where the event is about a person.

- ``webinar.registration_created``: ``object.registrant`` (``id``, ``email``,
  ``first_name``, ``last_name``) registered. Zoom knows who joined, so a
  registrant is ``no`` until they join;
- ``webinar.participant_joined``: ``object.participant`` (``email``,
  ``join_time``, and ``registrant_id`` when they registered) attended. A
  participant with an address is recorded by it; one without (a guest who
  did not sign in) is matched by ``registrant_id`` to the registration
  (tried again later when it is not recorded yet); one with neither is ignored, and so is the host
  (``participant.id`` is the webinar's ``host_id``);
- ``webinar.started`` and ``webinar.ended``: a start and an end signal (see
  ``publisher.events.endings``); Zoom sends ``ended`` again when the host
  leaves and returns.

Zoom gives deliveries no id; a retry sends the same body, so the digest of
the body is the delivery's id. The event is ``zoom-<webinar id>``, named by
the topic, from ``start_time`` for ``duration`` minutes in ``timezone``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from publisher.core.clock import OUT_OF_RANGE, within_range
from publisher.db.models import Attendance
from publisher.events.catalogue import MAX_NAME, EventFields
from publisher.events.platforms.delivery import CheckIn, Delivery, delivery_digest
from publisher.events.platforms.values import (
    PLATFORM_ID,
    PayloadError,
    email_address,
    event_fields,
    identifier,
    instant,
    one_line,
    registration,
    zone,
)

SOURCE = "zoom"
REGISTERED = "webinar.registration_created"
JOINED = "webinar.participant_joined"
STARTED = "webinar.started"
ENDED = "webinar.ended"
EVENTS = (REGISTERED, JOINED, STARTED, ENDED)
#: The URL validation challenge Zoom sends when the endpoint is saved, and every 72 hours.
URL_VALIDATION = "endpoint.url_validation"
#: Longest webinar taken from ``duration`` (minutes): a week.
MAX_DURATION = 7 * 24 * 60


def read(payload: dict[str, Any], raw_body: bytes, received_at: dt.datetime) -> Delivery | None:
    """The delivery a verified Zoom event makes; None for an event that changes nothing here.

    PayloadError names the field that cannot be used.
    """
    kind = payload.get("event")
    if kind not in EVENTS:
        return None
    body = _object(payload.get("payload"), "payload")
    webinar = _object(body.get("object"), "payload.object")
    at = _event_time(payload.get("event_ts")) or received_at
    delivery: dict[str, Any] = {
        "source": SOURCE,
        "event_id": identifier(webinar.get("id"), "payload.object.id"),
        "dedupe_key": delivery_digest(raw_body),
        "fields": _fields(webinar),
    }
    if kind == REGISTERED:
        person = _object(webinar.get("registrant"), "payload.object.registrant")
        delivery["registrations"] = [
            registration(
                "payload.object.registrant",
                email=person.get("email"),
                first_name=person.get("first_name"),
                last_name=person.get("last_name"),
                attendance=Attendance.NO,
                registered_at=at,
                platform_id=_optional_id(person.get("id")),
            )
        ]
    elif kind == JOINED:
        person = _object(webinar.get("participant"), "payload.object.participant")
        if person.get("id") and person.get("id") == webinar.get("host_id"):
            # The host joining their own webinar is not an attendee to thank.
            return None
        joined = instant(person.get("join_time"), "payload.object.participant.join_time") or at
        registrant_id = _optional_id(person.get("registrant_id"))
        email = _address(person.get("email"))
        if email is not None:
            delivery["registrations"] = [
                registration(
                    "payload.object.participant", email=email, attendance=Attendance.YES, checked_in_at=joined, platform_id=registrant_id
                )
            ]
        elif registrant_id is not None:
            delivery["check_ins"] = [CheckIn(registrant_id=registrant_id, checked_in_at=joined)]
        else:
            # A guest who neither signed in nor registered: nobody to record.
            return None
    else:
        ended = instant(webinar.get("end_time"), "payload.object.end_time") if kind == ENDED else None
        delivery["signal"] = "ended" if kind == ENDED else "started"
        delivery["signal_at"] = ended or at
    return Delivery.model_validate(delivery)


def _fields(webinar: dict[str, Any]) -> EventFields:
    starts_at = instant(webinar.get("start_time"), "payload.object.start_time")
    duration = webinar.get("duration")
    ends_at = None
    if starts_at is not None and isinstance(duration, int) and not isinstance(duration, bool) and 0 < duration <= MAX_DURATION:
        ends_at = starts_at + dt.timedelta(minutes=duration)
    fields = EventFields(
        name=one_line(webinar.get("topic"), "payload.object.topic", MAX_NAME),
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=zone(webinar.get("timezone")),
    )
    return event_fields(fields, "payload.object")


def _address(value: object) -> str | None:
    """A participant's address, or None: guests who did not sign in have none (or one Zoom filled with something else)."""
    try:
        return email_address(value, "payload.object.participant.email")
    except PayloadError:
        return None


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(where, "must be a JSON object")
    return value


def _optional_id(value: object) -> str | None:
    """A registrant id when it is one; Zoom's ids are opaque, and a missing one only costs matching a guest."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and PLATFORM_ID.fullmatch(value) else None


def _event_time(value: object) -> dt.datetime | None:
    """``event_ts``: milliseconds since the epoch; None when it is not a number, PayloadError when out of range."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if not 0 < value < 10**14:
        raise PayloadError("event_ts", f"{OUT_OF_RANGE} (milliseconds since 1970)")
    try:
        return within_range(dt.datetime.fromtimestamp(value / 1000, dt.UTC))
    except ValueError:
        raise PayloadError("event_ts", f"{OUT_OF_RANGE} (milliseconds since 1970)") from None
