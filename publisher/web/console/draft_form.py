"""The draft form: what the user typed, as recap fields, and each problem placed next to its field.

The form round-trips whatever was typed, valid or not, so a page with an
error shows the user's input again rather than what was last saved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from publisher.content.drafting import extras_of, with_extras
from publisher.content.recap import Recap

#: Single-line fields: (form name, label, longest accepted).
TEXT_FIELDS = (
    ("title", "Title", 500),
    ("subject", "Subject", 500),
    ("preheader", "Preheader", 500),
    ("event_name", "Event name", 500),
    ("event_date", "Event date", 10),
    ("venue", "Venue", 500),
    ("cta_text", "Button text", 60),
    ("cta_url", "Button link", 2000),
)
RESOURCE_FIELDS = (("title", "Resource title", 500), ("url", "Resource link", 2000), ("description", "Resource description", 2000))
MAX_BODY = 200_000
#: The kept details (speakers, photos, links, the next event) are a few kilobytes a few levels deep;
#: a hidden field far larger or deeper was tampered with, and JSON that deep would exhaust the parser's stack.
MAX_EXTRA = 100_000
MAX_EXTRA_DEPTH = 10
UNREADABLE_EXTRA = "The kept details of this draft could not be read: reload the draft and edit it again."
MAX_RESOURCES = 50
#: Where a recap problem (pydantic's location) is shown on the form.
_WHERE = {
    "title": "title",
    "subject": "subject",
    "preheader": "preheader",
    "event": "event_name",
    "event.name": "event_name",
    "event.date": "event_date",
    "event.venue": "venue",
    "cta": "cta_text",
    "cta.text": "cta_text",
    "cta.url": "cta_url",
}


#: The label of each field, by form name (resource fields without their row number).
LABELS = {name: label for name, label, _ in TEXT_FIELDS} | {f"resource_{key}": label for key, label, _ in RESOURCE_FIELDS}


def plain(label: str | None, reason: str) -> str:
    """A recap problem as the form's user reads it: by the field's label, not by the recap's key."""
    message = re.sub(r"^'[^']*': ", "", reason)
    if label is None:
        return message
    if "at least 1 character" in message or "is required" in message:
        return f"{label} is required."
    if "URL" in message:
        return f"{label} must be a full link, starting with https://"
    if "valid date" in message:
        return f"{label} must be a date (YYYY-MM-DD)."
    return f"{label}: {message}"


@dataclass
class DraftForm:
    values: dict[str, str] = field(default_factory=lambda: {name: "" for name, _, _ in TEXT_FIELDS})
    body: str = ""
    resources: list[dict[str, str]] = field(default_factory=list)
    list_name: str = ""
    provider: str = ""
    #: The blog post's address typed into ``Import from URL``, shown again with its problem.
    import_url: str = ""
    #: The recap's front matter the form does not edit (speakers, photos, links, the next event,
    #: the event's times), as JSON in a hidden field, so saving the form keeps it.
    extra: str = ""
    #: Problems by field id (``title``, ``resource_url_0``, ``list``…); ``form`` for the ones with no field.
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, form: FormData) -> DraftForm:
        """The form as posted; over-long fields are kept (cut) and reported next to the field."""
        draft = cls()
        for name, label, longest in TEXT_FIELDS:
            draft.values[name] = draft._text(form, name, label, longest, name)
        draft.body = draft._text(form, "body", "Body", MAX_BODY, "body")
        titles, urls, notes = ([v if isinstance(v, str) else "" for v in form.getlist(f"resource_{key}")] for key, _, _ in RESOURCE_FIELDS)
        for index in range(min(MAX_RESOURCES, max(len(titles), len(urls), len(notes)))):
            row = {}
            for (key, label, longest), column in zip(RESOURCE_FIELDS, (titles, urls, notes), strict=True):
                value = column[index] if index < len(column) else ""
                row[key] = value[:longest]
                if len(value) > longest:
                    draft.errors[f"resource_{key}_{index}"] = f"{label} is {len(value)} characters long; at most {longest} fit"
            draft.resources.append(row)
        draft.extra = draft._text(form, "extra", "Kept details", MAX_EXTRA, "extra")
        draft.list_name = draft._text(form, "list", "List", 100, "list")
        draft.provider = draft._text(form, "provider", "Provider", 40, "provider")
        return draft

    def _text(self, form: FormData, name: str, label: str, longest: int, where: str) -> str:
        raw = form.get(name, "")
        value = raw if isinstance(raw, str) else ""
        if len(value) > longest:
            self.errors[where] = f"{label} is {len(value)} characters long; at most {longest:,} fit"
        return value[:longest]

    @classmethod
    def of_recap(cls, recap: Recap, list_name: str = "", provider: str = "") -> DraftForm:
        meta = recap.meta
        draft = cls(body=recap.body.strip(), list_name=list_name, provider=provider)
        draft.values.update(
            title=meta.title,
            subject=meta.subject or "",
            preheader=meta.preheader,
            event_name=meta.event.name if meta.event else "",
            event_date=meta.event.date.isoformat() if meta.event and meta.event.date else "",
            venue=(meta.event.venue or "") if meta.event else "",
            cta_text=meta.cta.text if meta.cta else "",
            cta_url=str(meta.cta.url) if meta.cta else "",
        )
        draft.resources = [
            {"title": r.title, "url": str(r.url) if r.url else "", "description": r.description or ""} for r in meta.resources
        ]
        extras = extras_of(recap)
        draft.extra = json.dumps(extras, ensure_ascii=False) if extras else ""
        return draft

    @property
    def extra_summary(self) -> str:
        """What the kept details are, in words: "speakers, photos and the event's times"."""
        names = {"speakers": "speakers", "photos": "photos", "links": "links", "next_event": "the next event", "event": "the event's times"}
        kept = [label for key, label in names.items() if key in self._extras()]
        return ", ".join(kept[:-1]) + (" and " if len(kept) > 1 else "") + kept[-1] if kept else "details"

    def _extras(self) -> dict[str, Any]:
        if not self.extra or "extra" in self.errors:  # nothing kept, or cut (and said so) when read
            return {}
        extras = None
        if _nesting(self.extra) <= MAX_EXTRA_DEPTH:
            try:
                extras = json.loads(self.extra)
            except (ValueError, RecursionError):
                extras = None
        if not isinstance(extras, dict):
            self.errors["extra"] = UNREADABLE_EXTRA
            return {}
        return extras

    def apply(self, action: str) -> bool:
        """Carry out an ``Add resource`` or ``Remove resource:N`` press; return whether it was one."""
        if action == "add_resource":
            if len(self.resources) < MAX_RESOURCES:
                self.resources.append({"title": "", "url": "", "description": ""})
            return True
        if action.startswith("remove_resource:"):
            index = action.partition(":")[2]
            if index.isdigit() and int(index) < len(self.resources):
                del self.resources[int(index)]
                # Problems of the rows below no longer match their row numbers.
                self.errors = {key: value for key, value in self.errors.items() if not key.startswith("resource_")}
            return True
        return False

    def recap_fields(self) -> dict[str, Any]:
        """The content fields ``publisher.content.drafting.compose`` takes; empty groups are left out."""
        v = {key: value.strip() for key, value in self.values.items()}
        fields: dict[str, Any] = {"title": v["title"], "subject": v["subject"], "preheader": v["preheader"]}
        if v["event_name"] or v["event_date"] or v["venue"]:
            event = (("name", v["event_name"]), ("date", v["event_date"]), ("venue", v["venue"]))
            fields["event"] = {"name": "", **{key: value for key, value in event if value}}
        if v["cta_text"] or v["cta_url"]:
            fields["cta"] = {"text": v["cta_text"], "url": v["cta_url"]}
        rows = [{key: value.strip() for key, value in row.items() if value.strip()} for row in self.resources]
        fields["resources"] = [{"title": "", **row} for row in rows if row]
        return with_extras(fields, self._extras())

    def place(self, problems: list[tuple[str, str]]) -> None:
        """Put each recap problem next to its field."""
        # Empty rows are not written to the recap: its resource n is the n-th row with something in it.
        rows = [index for index, row in enumerate(self.resources) if any(value.strip() for value in row.values())]
        for where, reason in problems:
            field_id = field_for(where, rows)
            self.errors.setdefault(
                field_id, plain(LABELS.get(field_id.rsplit("_", 1)[0] if field_id.startswith("resource_") else field_id), reason)
            )


def field_for(where: str, resource_rows: list[int]) -> str:
    """The form field a recap problem's location points at (``form`` when none does)."""
    if where in _WHERE:
        return _WHERE[where]
    parts = where.split(".")
    if parts[0] == "resources" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(resource_rows):
        key = parts[2] if len(parts) > 2 and parts[2] in {"title", "url", "description"} else "title"
        return f"resource_{key}_{resource_rows[int(parts[1])]}"
    return "form"


def _nesting(text: str) -> int:
    """How deep JSON ``text`` nests arrays and objects (brackets inside strings do not count), up to one past the limit."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_EXTRA_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest
