"""Any other platform: four event types, signed per the Standard Webhooks specification.

The JSON each type carries is defined here as pydantic models; docs/events.md
publishes their JSON Schema, generated from these models
(``python -m publisher.events.platforms.generic`` prints that section, and a
test checks the docs hold it). Every call is ``{"type": …, "timestamp": …,
"data": {…}}``, as the specification recommends:

- ``event.upserted``: an event, created or updated (``id``, ``name``, times,
  venue or online link, speakers);
- ``registrant.added``: someone registered (``event_id``, ``email``, names,
  ``attendance``: ``unknown`` when the platform reports no check-ins, ``no``
  when it does, so that registrants who never check in become no-shows);
- ``attendee.checked_in``: someone came;
- ``event.ended``: the event ended (a signal that counts after the quiet
  period, as Zoom's does).

The event is always ``generic-<id>``: a sender cannot name the slug, so it
never reaches an event made by hand or by another platform. The call's
``webhook-id`` is the delivery's id: the same id twice is applied once.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from publisher.audience.subscriber_rows import MAX_FIELD
from publisher.core.clock import within_range
from publisher.core.text_rules import refuse_control_characters
from publisher.db.models import Attendance
from publisher.events.catalogue import MAX_NAME, MAX_URL, MAX_VENUE, EventFields
from publisher.events.platforms.delivery import Delivery
from publisher.events.platforms.values import PLATFORM_ID, PayloadError, email_address, event_fields, registration, web_url, zone

SOURCE = "generic"
EVENT_UPSERTED = "event.upserted"
REGISTRANT_ADDED = "registrant.added"
ATTENDEE_CHECKED_IN = "attendee.checked_in"
EVENT_ENDED = "event.ended"
MAX_SPEAKERS = 50


def _one_line(value: str) -> str:
    # Names go into mail headers and subjects: one line, no control characters.
    return refuse_control_characters(value)


def _email(value: str) -> str:
    try:
        return email_address(value, "email")
    except PayloadError as exc:
        raise ValueError(exc.reason) from None


def _zone(value: str) -> str:
    if zone(value) is None:
        raise ValueError(f"'{value[:60]}' is not an IANA time zone such as Europe/Paris")
    return value


def _web_url(value: str) -> str:
    if web_url(value) is None:
        raise ValueError("must be an http or https address without spaces")
    return value


def _line(limit: int) -> Any:
    return Field(description=f"One line of text, at most {limit} characters: no control characters or line separators.")


EventName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME), AfterValidator(_one_line), _line(MAX_NAME)
]
Venue = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_VENUE), AfterValidator(_one_line), _line(MAX_VENUE)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_FIELD), AfterValidator(_one_line), _line(MAX_FIELD)]
SpeakerName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FIELD), AfterValidator(_one_line), _line(MAX_FIELD)
]
PlatformId = Annotated[
    str,
    StringConstraints(pattern=f"^{PLATFORM_ID.pattern}$", max_length=100),
    Field(description="The platform's id: 1 to 100 letters, digits and _ . : -, starting with a letter or digit."),
]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email), Field(description="An email address.")]
WebUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_URL), AfterValidator(_web_url), Field(description="An http(s) address.")
]
Zone = Annotated[str, StringConstraints(max_length=60), AfterValidator(_zone), Field(description="An IANA time zone, e.g. Europe/Paris.")]
Time = Annotated[
    AwareDatetime,
    AfterValidator(within_range),
    Field(description="An ISO 8601 time with its UTC offset, between 1970 and 2200, e.g. 2026-12-04T18:30:00+01:00."),
]


class Strict(BaseModel):
    # Unknown keys are ignored, so a sender may add its own; known ones must have their type.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Speaker(Strict):
    name: SpeakerName
    role: PersonName | None = None
    organisation: PersonName | None = None
    photo: WebUrl | None = None


class EventData(Strict):
    """An event as the platform knows it now."""

    id: PlatformId
    name: EventName
    starts_at: Time | None = None
    ends_at: Time | None = None
    timezone: Zone | None = None
    venue: Venue | None = None
    online_url: WebUrl | None = None
    url: WebUrl | None = Field(None, description="The event's public page.")
    speakers: list[Speaker] | None = Field(None, max_length=MAX_SPEAKERS)


class RegistrantData(Strict):
    """Someone registered for an event."""

    event_id: PlatformId
    email: Email
    first_name: PersonName = ""
    last_name: PersonName = ""
    registrant_id: PlatformId | None = Field(None, description="The platform's id of the registration.")
    registered_at: Time | None = None
    attendance: Literal["unknown", "no"] = Field(
        "unknown", description="'no' when the platform reports check-ins (registrants who never check in become no-shows)."
    )
    consent: bool = Field(False, description="Whether the registration form's consent allows joining the newsletter list.")


class CheckInData(Strict):
    """Someone came to an event."""

    event_id: PlatformId
    email: Email
    first_name: PersonName = ""
    last_name: PersonName = ""
    registrant_id: PlatformId | None = None
    checked_in_at: Time | None = Field(None, description="When they checked in; the call's timestamp when absent.")


class EndedData(Strict):
    """An event ended."""

    event_id: PlatformId
    ended_at: Time | None = Field(None, description="When it ended; the call's timestamp when absent.")


class EventUpserted(Strict):
    type: Literal["event.upserted"]
    timestamp: Time | None = None
    data: EventData


class RegistrantAdded(Strict):
    type: Literal["registrant.added"]
    timestamp: Time | None = None
    data: RegistrantData


class AttendeeCheckedIn(Strict):
    type: Literal["attendee.checked_in"]
    timestamp: Time | None = None
    data: CheckInData


class EventEnded(Strict):
    type: Literal["event.ended"]
    timestamp: Time | None = None
    data: EndedData


#: Each type and the model of its call.
TYPES: dict[str, type[Strict]] = {
    EVENT_UPSERTED: EventUpserted,
    REGISTRANT_ADDED: RegistrantAdded,
    ATTENDEE_CHECKED_IN: AttendeeCheckedIn,
    EVENT_ENDED: EventEnded,
}


def read(payload: dict[str, Any], webhook_id: str, received_at: dt.datetime) -> Delivery | None:
    """The delivery a verified call makes; None for a type this service does not read. PayloadError names the field at fault."""
    kind = payload.get("type")
    model = TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    try:
        call = model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PayloadError(where, first["msg"].removeprefix("Value error, ")) from None
    at = getattr(call, "timestamp", None) or received_at
    delivery: dict[str, Any] = {"source": SOURCE, "dedupe_key": webhook_id}
    if isinstance(call, EventUpserted):
        event = call.data
        delivery["event_id"] = event.id
        fields = EventFields(
            name=event.name,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            timezone=event.timezone,
            venue=event.venue or None,
            online_url=event.online_url,
            url=event.url,
            speakers=[speaker.model_dump(exclude_none=True) for speaker in event.speakers] if event.speakers is not None else None,
        )
        delivery["fields"] = event_fields(fields, "data")
    elif isinstance(call, RegistrantAdded):
        person = call.data
        delivery["event_id"] = person.event_id
        delivery["registrations"] = [
            registration(
                "data",
                email=person.email,
                first_name=person.first_name,
                last_name=person.last_name,
                attendance=Attendance(person.attendance),
                registered_at=person.registered_at,
                platform_id=person.registrant_id,
                consent=person.consent,
            )
        ]
    elif isinstance(call, AttendeeCheckedIn):
        came = call.data
        delivery["event_id"] = came.event_id
        delivery["registrations"] = [
            registration(
                "data",
                email=came.email,
                first_name=came.first_name,
                last_name=came.last_name,
                attendance=Attendance.YES,
                checked_in_at=came.checked_in_at or at,
                platform_id=came.registrant_id,
            )
        ]
    else:
        assert isinstance(call, EventEnded)
        delivery |= {"event_id": call.data.event_id, "signal": "ended", "signal_at": call.data.ended_at or at}
    return Delivery.model_validate(delivery)


def schema_markdown() -> str:
    """The JSON Schema of each type's call, as docs/events.md publishes it."""
    parts = []
    for name, model in TYPES.items():
        schema = json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        parts.append(f"#### `{name}`\n\n```json\n{schema}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(schema_markdown())
