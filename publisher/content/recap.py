"""Load a recap: Markdown with YAML front matter, validated before anything else runs.

A recap is data. Nothing in it is ever evaluated as template code; the layout
receives it as values and Markdown-rendered, sanitised HTML.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from publisher.core.clock import FIRST_YEAR, LAST_YEAR
from publisher.core.errors import ContentError
from publisher.core.text_rules import refuse_control_characters

FENCE = "---"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: Largest recap file read. A recap is an article, not a book: a bigger file is
#: a mistake, and parsing and rendering it would take minutes and gigabytes.
MAX_RECAP_BYTES = 1_048_576
_Timed = TypeVar("_Timed", "Event", "NextEvent")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _one_line(value: str | None) -> str | None:
    # A name, a venue, a caption: shown on one line of the email, where a
    # control character or a line break has no meaning and an HTML parser
    # would not keep it as written.
    if value is not None:
        try:
            refuse_control_characters(value)
        except ValueError as exc:
            raise PydanticCustomError("single_line", str(exc)) from None
    return value


def check_zone(value: str | None) -> str | None:
    """An IANA time zone name as given, or a validation error saying it is unknown."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "unknown time zone {zone} (use an IANA name such as Europe/Paris)", {"zone": repr(value)}
        ) from None
    return value


def check_year(value: dt.datetime | None) -> dt.datetime | None:
    """Refuse a time outside the years FIRST_YEAR to LAST_YEAR."""
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "time_range", "give a time between the years {first} and {last}", {"first": FIRST_YEAR, "last": LAST_YEAR}
        )
    return value


def check_order(starts_at: dt.datetime | None, ends_at: dt.datetime | None) -> None:
    """Refuse an end that is not after the start: a calendar cannot hold it, and a reader cannot make sense of it."""
    if starts_at is None or ends_at is None:
        return
    if (starts_at.tzinfo is None) != (ends_at.tzinfo is None):
        raise PydanticCustomError("mixed_times", "give both starts_at and ends_at with a UTC offset, or neither")
    if ends_at <= starts_at:
        raise PydanticCustomError("time_order", "ends_at must be after starts_at")


def _ends_after_it_starts(model: _Timed) -> _Timed:
    # The check both events a recap names (the one recapped, the next one) run once built.
    check_order(model.starts_at, model.ends_at)
    return model


class Event(_Strict):
    name: str = Field(min_length=1)
    date: dt.date | None = None
    venue: str | None = None
    #: When it ran, with the zone it ran in: the event card shows the time there.
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    timezone: str | None = None
    #: The event's page or its online link.
    url: HttpUrl | None = None

    _known_zone = field_validator("timezone")(check_zone)
    _single_line = field_validator("name", "venue")(_one_line)
    _in_range = field_validator("starts_at", "ends_at")(check_year)
    _in_order = model_validator(mode="after")(_ends_after_it_starts)


class Speaker(_Strict):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=200)
    organisation: str | None = Field(None, max_length=200)
    photo: HttpUrl | None = None

    _single_line = field_validator("name", "role", "organisation")(_one_line)


class Photo(_Strict):
    url: HttpUrl
    #: Required: an image without a text alternative says nothing to a screen reader.
    alt: str = Field(min_length=1, max_length=300)
    width: int = Field(gt=0, le=4000)
    height: int = Field(gt=0, le=4000)

    _single_line = field_validator("alt")(_one_line)


class Link(_Strict):
    """Slides, the recording: what the reader may want to open after the event."""

    title: str = Field(min_length=1, max_length=200)
    url: HttpUrl

    _single_line = field_validator("title")(_one_line)


class NextEvent(_Strict):
    name: str = Field(min_length=1, max_length=300)
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    venue: str | None = None
    #: Where to register.
    url: HttpUrl | None = None

    _known_zone = field_validator("timezone")(check_zone)
    _single_line = field_validator("name", "venue")(_one_line)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise PydanticCustomError("naive_time", "give the time with its UTC offset (2026-12-10T18:00:00+01:00)")
        check_year(value)
        return value

    _in_order = model_validator(mode="after")(_ends_after_it_starts)


class CallToAction(_Strict):
    text: str = Field(min_length=1, max_length=60)
    url: HttpUrl


class Resource(_Strict):
    title: str = Field(min_length=1)
    url: HttpUrl | None = None
    description: str | None = None


class RecapMeta(_Strict):
    """The front matter keys a recap may use; any other key is refused."""

    title: str = Field(min_length=1)
    subject: str | None = None
    preheader: str = ""
    event: Event | None = None
    cta: CallToAction | None = None
    resources: list[Resource] = Field(default_factory=list)
    speakers: list[Speaker] = Field(default_factory=list, max_length=50)
    photos: list[Photo] = Field(default_factory=list, max_length=30)
    links: list[Link] = Field(default_factory=list, max_length=30)
    next_event: NextEvent | None = None

    # Subject and title end up in a mail header: a line break there would
    # be header injection, and any other control character or separator
    # makes building every recipient's message fail. Refuse at the door.
    _single_line = field_validator("subject", "title", "preheader")(_one_line)

    @property
    def email_subject(self) -> str:
        return self.subject or self.title


@dataclass(frozen=True)
class Recap:
    """A validated recap: its metadata, its Markdown body and where it came from."""

    meta: RecapMeta
    body: str
    source: str
    #: The line of the file the body starts on, so problems in the body can name their file line.
    body_line: int = 1

    @property
    def digest(self) -> str:
        """Fingerprint of the content, kept with each campaign."""
        payload = self.meta.model_dump_json() + "\0" + self.body
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_recap(path: Path) -> Recap:
    """Read and validate the recap at ``path`` or raise ContentError naming file and problem."""
    return parse_recap(read_recap_text(path), str(path))


def read_recap_text(path: Path) -> str:
    """The text of the recap file at ``path`` (at most 1 MiB of UTF-8), or ContentError naming file and problem."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            # One byte past the limit tells an oversized recap without reading
            # it whole: a stat would not do for a pipe or a growing file.
            raw = handle.read(MAX_RECAP_BYTES + 1)
    except OSError as exc:
        raise ContentError(source, f"cannot read file ({exc.strerror})") from exc
    if len(raw) > MAX_RECAP_BYTES:
        raise ContentError(source, f"is larger than {MAX_RECAP_BYTES:,} bytes (1 MiB), the most a recap may be")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(source, f"not UTF-8 (byte {exc.start})") from exc
    return text


def parse_recap(text: str, source: str = "<recap>", *, allow_empty_body: bool = False) -> Recap:
    """Validate recap text; ``source`` names it in error messages.

    A draft may have no body yet (``allow_empty_body``): lint reports it
    instead, and sending refuses it.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise ContentError(source, "line 1 must be '---', opening the YAML front matter")
    if not any(line.strip() == FENCE for line in lines[1:]):
        raise ContentError(source, "the front matter is never closed: add a line '---' after it")
    try:
        metadata, body = frontmatter.parse(text)
    except yaml.YAMLError as exc:
        problem = f"front matter is not valid YAML: {_yaml_problem(exc)}"
        raise ContentError(source, problem, [("front matter", problem)]) from exc
    if not isinstance(metadata, dict) or not metadata:
        raise ContentError(source, "front matter must be a mapping of keys to values (title: …)")
    meta = _validate_meta(metadata, source)
    if not body.strip() and not allow_empty_body:
        raise ContentError(source, "the body is empty: write the recap below the front matter")
    body = body.strip()
    # The body is the end of the text once trailing whitespace is stripped.
    body_start = len(text.rstrip()) - len(body)
    body_line = len(_LINE_BREAK.findall(text, 0, body_start)) + 1
    return Recap(meta=meta, body=body + "\n", source=source, body_line=body_line)


def _validate_meta(metadata: dict[str, Any], source: str) -> RecapMeta:
    try:
        return RecapMeta.model_validate(metadata)
    except ValidationError as exc:
        problems = [(_where(error), _describe(error)) for error in exc.errors()]
        raise ContentError(source, "front matter: " + "; ".join(reason for _, reason in problems), problems) from exc


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "front matter"


def _describe(error: Any) -> str:
    where = _where(error)
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(RecapMeta.model_fields)
        return f"unknown key '{where}' (allowed at the top: {allowed})"
    if error["type"] == "missing":
        return f"'{where}' is required"
    return f"'{where}': {error['msg']}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return problem
    # The YAML parser counts from the line after the opening '---'.
    return f"{problem} at line {mark.line + 2}, column {mark.column + 1}"
