"""A draft's content: a recap written as form or API fields, or as a whole recap file.

Either way it is stored as recap text (Markdown with YAML front matter), the
one format the CLI reads too, so a draft written in the console can be
downloaded and published from a shell, and the other way round. A draft is
saved whenever it can be read: lint errors and an empty body are kept with it
and shown, and only sending refuses them.
"""

from __future__ import annotations

from typing import Any

import yaml

from publisher.content.lint import lint_recap
from publisher.content.lint.report import Finding, LintReport, Severity
from publisher.content.recap import Recap, parse_recap
from publisher.core.errors import ContentError
from publisher.core.settings import Settings

#: The content fields a form or an API body may carry besides ``body``.
META_FIELDS = ("title", "subject", "preheader", "event", "cta", "resources")
#: Front matter a recap file (or an event's recap draft) may hold that the form and the API do not edit: kept as it is on save.
EXTRA_FIELDS = ("speakers", "photos", "links", "next_event")
#: The event keys the form and the API edit; the others (times, zone, link) are kept.
EDITED_EVENT_KEYS = ("name", "date", "venue")
EMPTY_BODY = Finding("body", Severity.ERROR, "the body is empty: write the recap before sending", "body")


def compose(fields: dict[str, Any], body: str) -> str:
    """Recap text from content fields; empty fields are left out, as a hand-written recap would."""
    # The title is always written, so a missing one is reported as missing rather than as an empty recap.
    meta = {key: fields.get(key) for key in (*META_FIELDS, *EXTRA_FIELDS) if key == "title" or fields.get(key) not in (None, "", [], {})}
    meta["title"] = meta.get("title") or ""
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n\n{body.strip()}\n"


def read_draft(text: str, source: str = "draft") -> Recap:
    """Parse a draft's recap text; raise ContentError (with each problem and where) if it cannot be read."""
    return parse_recap(text, source, allow_empty_body=True)


def fields_of(recap: Recap) -> dict[str, Any]:
    """The content fields of a recap, as the form and the API show them (the kept extras too)."""
    meta = recap.meta.model_dump(mode="json", exclude_none=True)
    return {**{key: meta.get(key) for key in (*META_FIELDS, *EXTRA_FIELDS)}, "body": recap.body.strip()}


def extras_of(recap: Recap) -> dict[str, Any]:
    """What of the recap's front matter the form does not edit: speakers, photos, links, the next event, the event's times."""
    meta = recap.meta.model_dump(mode="json", exclude_none=True)
    extras = {key: meta[key] for key in EXTRA_FIELDS if meta.get(key)}
    event = {key: value for key, value in (meta.get("event") or {}).items() if key not in EDITED_EVENT_KEYS}
    return extras | ({"event": event} if event else {})


def with_extras(fields: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as edited, with the ``extras`` kept: an event the edit removed takes its extra keys with it."""
    kept = {key: value for key, value in extras.items() if key in EXTRA_FIELDS} | fields
    event_extras = extras.get("event")
    if isinstance(fields.get("event"), dict) and isinstance(event_extras, dict):
        kept["event"] = {**event_extras, **fields["event"]}
    return kept


def merge(recap: Recap, changes: dict[str, Any]) -> str:
    """Recap text with ``changes`` (content fields, ``body`` among them) applied over ``recap``'s."""
    current = fields_of(recap)
    unknown = sorted(set(changes) - {*META_FIELDS, "body"})
    if unknown:
        raise ContentError("draft", f"unknown field {unknown[0]}", [(name, "unknown field") for name in unknown])
    current.update(changes)
    current = with_extras(current, extras_of(recap))
    return compose(current, str(current.pop("body") or ""))


def lint_draft(settings: Settings, recap: Recap) -> LintReport:
    """Lint the draft as a subscriber would get it; an empty body is an error of its own."""
    report = lint_recap(settings, recap)
    if recap.body.strip():
        return report
    return LintReport((EMPTY_BODY, *report.findings))
