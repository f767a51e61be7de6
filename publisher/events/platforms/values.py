"""Reading single values out of a platform's payload: each one checked, or refused naming where it was.

A platform's payload is data from outside. Names become mail headers and
subjects, so they are one line of at most a few hundred characters; ids
become slugs and URLs, so they are short and plain; times carry a zone.
Anything else is refused with a :class:`PayloadError` that says where in
the payload the value was and what is wrong with it. Values that only
decorate an event (a time zone, a web address) are dropped when unusable
instead, so one odd field does not cost a registration.
"""

from __future__ import annotations

import datetime as dt
import re

from publisher.audience.subscriber_rows import MAX_FIELD, UnsendableAddressError, sendable_email
from publisher.core.clock import within_range
from publisher.core.errors import NewsletterError
from publisher.core.text_rules import refuse_control_characters
from publisher.db.models import Attendance
from publisher.events.catalogue import MAX_URL, EventError, EventFields, check_fields, check_zone
from publisher.events.registrants import Registration

#: Platform ids: what Zoom, Eventbrite, Luma and Standard Webhooks senders use, and nothing a URL or a slug must escape.
PLATFORM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+")


class PayloadError(NewsletterError):
    """A platform's delivery holds a value that cannot be used; ``where`` names it in the payload."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def one_line(value: object, where: str, limit: int) -> str | None:
    """A one-line text of at most ``limit`` characters, stripped; None when absent or empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(where, f"must be text, not {type(value).__name__}")
    stripped = value.strip()
    if len(stripped) > limit:
        raise PayloadError(where, f"is {len(stripped)} characters long; at most {limit} fit")
    try:
        refuse_control_characters(stripped)
    except ValueError as exc:
        raise PayloadError(where, str(exc)) from None
    return stripped or None


def identifier(value: object, where: str) -> str:
    """A platform id (given as text or a number): letters, digits and ``_.:-``, at most 100."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not PLATFORM_ID.fullmatch(value):
        shown = str(value)[:40].encode("unicode_escape").decode("ascii")
        raise PayloadError(where, f"'{shown}' is not an id: use up to 100 letters, digits and _ . : -")
    return value


def instant(value: object, where: str) -> dt.datetime | None:
    """An ISO 8601 time (a missing offset is read as UTC) between 1970 and 2200, as an aware UTC datetime; None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise PayloadError(where, "must be an ISO 8601 time such as 2026-12-04T18:30:00Z")
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise PayloadError(where, f"'{text[:40]}' is not an ISO 8601 time such as 2026-12-04T18:30:00Z") from None
    try:
        return within_range(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
    except ValueError as exc:
        raise PayloadError(where, f"'{text[:40]}' {exc}") from None


def zone(value: object) -> str | None:
    """An IANA time zone, or None when absent or not one (the event then keeps the zone it has)."""
    if not isinstance(value, str) or not value or len(value) > 60:
        return None
    try:
        return check_zone(value)
    except EventError:
        return None


def web_url(value: object) -> str | None:
    """An http(s) address fit for an event page or an online link; None otherwise."""
    if isinstance(value, str) and len(value) <= MAX_URL and _WEB_URL.fullmatch(value.strip()):
        return value.strip()
    return None


def email_address(value: object, where: str) -> str:
    """A normalised address the providers can send to."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(where, "is missing: a registration needs an email address")
    try:
        return sendable_email(value.strip())
    except UnsendableAddressError as exc:
        raise PayloadError(where, str(exc)) from None
    except ValueError as exc:
        raise PayloadError(where, f"is not a valid email address: {str(exc)[:200]}") from None


def registration(
    where: str,
    *,
    email: object,
    first_name: object = None,
    last_name: object = None,
    attendance: Attendance,
    registered_at: dt.datetime | None = None,
    checked_in_at: dt.datetime | None = None,
    platform_id: str | None = None,
    consent: bool = False,
) -> Registration:
    """One person's registration, every value checked; ``where`` is the person's place in the payload."""
    return Registration(
        email=email_address(email, f"{where}.email"),
        first_name=one_line(first_name, f"{where}.first_name", MAX_FIELD) or "",
        last_name=one_line(last_name, f"{where}.last_name", MAX_FIELD) or "",
        registered_at=registered_at,
        attendance=Attendance.YES if checked_in_at is not None else attendance,
        checked_in_at=checked_in_at,
        platform_id=platform_id,
        consent=consent,
    )


def event_fields(fields: EventFields, where: str) -> EventFields:
    """``fields`` when an event can hold them (an end after the start, a name on one line); PayloadError otherwise."""
    try:
        return check_fields(fields)
    except EventError as exc:
        raise PayloadError(where, str(exc)) from None
