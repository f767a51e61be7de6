"""What a lint run found: one finding per problem (or pass), grouped by check."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    WARNING = "warning"
    ERROR = "error"


_RANK = {Severity.PASS: 0, Severity.WARNING: 1, Severity.ERROR: 2}
_LABEL = {Severity.PASS: "PASS", Severity.WARNING: "WARN", Severity.ERROR: "FAIL"}


@dataclass(frozen=True)
class Finding:
    """One result of one check; ``where`` points into the HTML when it can."""

    check: str
    severity: Severity
    message: str
    where: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity.value, "message": self.message, "where": self.where}


@dataclass(frozen=True)
class LintReport:
    """Every finding of a lint run, in the order the checks ran."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """Whether the email may be sent: warnings are advice, errors are not."""
        return not self.errors

    def checks(self) -> dict[str, list[Finding]]:
        """Group the findings by check, keeping the order the checks ran in."""
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.check, []).append(finding)
        return grouped

    def status(self, check: str) -> Severity:
        """Return the worst severity among ``check``'s findings."""
        return max((finding.severity for finding in self.checks().get(check, [])), key=_RANK.__getitem__, default=Severity.PASS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": {name: self.status(name).value for name in self.checks()},
            "findings": [finding.as_dict() for finding in self.findings],
        }

    def format_text(self) -> str:
        """Render one line per check (PASS, WARN or FAIL), its details indented below."""
        grouped = self.checks()
        width = max((len(name) for name in grouped), default=0)
        lines: list[str] = []
        for name, findings in grouped.items():
            problems = [finding for finding in findings if finding.severity is not Severity.PASS]
            notes = [finding for finding in findings if finding.severity is Severity.PASS]
            if len(problems) == 1:
                summary, details = _summary(problems[0]), notes
            elif problems:
                summary, details = f"{len(problems)} problems", problems + notes
            else:
                summary, details = _summary(notes[0]), notes[1:]
            lines.append(f"{_LABEL[self.status(name)]}  {name.ljust(width)}  {summary}")
            lines.extend(_detail(finding) for finding in details)
        verdict = "ok" if self.ok else "NOT OK"
        lines.append(f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


def _summary(finding: Finding) -> str:
    return f"{finding.message} [{finding.where}]" if finding.where else finding.message


def _detail(finding: Finding) -> str:
    return f"      {finding.severity.value}: {_summary(finding)}"
