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
EMPTY_BODY = Finding("body", Severity.ERROR, "the body is empty: write the recap before sending", "body")


def compose(fields: dict[str, Any], body: str) -> str:
    """Recap text from content fields; empty fields are left out, as a hand-written recap would."""
    # The title is always written, so a missing one is reported as missing rather than as an empty recap.
    meta = {key: fields.get(key) for key in META_FIELDS if key == "title" or fields.get(key) not in (None, "", [], {})}
    meta["title"] = meta.get("title") or ""
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n\n{body.strip()}\n"


def read_draft(text: str, source: str = "draft") -> Recap:
    """Parse a draft's recap text; raise ContentError (with each problem and where) if it cannot be read."""
    return parse_recap(text, source, allow_empty_body=True)


def fields_of(recap: Recap) -> dict[str, Any]:
    """The content fields of a recap, as the form and the API show them."""
    meta = recap.meta.model_dump(mode="json")
    return {**{key: meta.get(key) for key in META_FIELDS}, "body": recap.body.strip()}


def merge(recap: Recap, changes: dict[str, Any]) -> str:
    """Recap text with ``changes`` (content fields, ``body`` among them) applied over ``recap``'s."""
    current = fields_of(recap)
    unknown = sorted(set(changes) - {*META_FIELDS, "body"})
    if unknown:
        raise ContentError("draft", f"unknown field {unknown[0]}", [(name, "unknown field") for name in unknown])
    current.update(changes)
    return compose(current, str(current.pop("body") or ""))


def lint_draft(settings: Settings, recap: Recap) -> LintReport:
    """Lint the draft as a subscriber would get it; an empty body is an error of its own."""
    report = lint_recap(settings, recap)
    if recap.body.strip():
        return report
    return LintReport((EMPTY_BODY, *report.findings))
