"""``newsletter lint RECAP``: the lint report on stdout and an exit code a CI job can branch on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from publisher.content import load_recap
from publisher.errors import ContentError, RenderError
from publisher.lint import lint_recap
from publisher.settings import Settings
from publisher.terminal import safe

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_CONTENT = 2


def lint(recap: Path, as_json: bool, *, settings: Settings) -> int:
    """Lint the recap at ``recap``; return 0 when it may be sent (warnings allowed), 1 on errors, 2 on bad content."""
    try:
        report = lint_recap(settings, load_recap(recap))
    # A recap that cannot be rendered at all (a merge tag in alt text) is bad
    # content too, not a lint finding.
    except (ContentError, RenderError) as exc:
        print(f"error: {safe(exc)}", file=sys.stderr)
        return EXIT_CONTENT
    # Findings quote the recap (a link, an element): its text is shown escaped.
    print(json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(safe(line) for line in report.format_text().splitlines()))
    return EXIT_OK if report.ok else EXIT_ERRORS
