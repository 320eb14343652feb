"""What ``cmsync doctor`` found: findings with a severity and a fix, and the printable report.

A finding is an error when a sync would fail because of it (a missing field, a refused login,
a spent API budget), a warning when the sync runs but worse than it should (a shorter text
field, no data source for imports), and ok when a check passed. The report exits non-zero on
any error, so ``cmsync doctor`` can gate a deploy script.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Finding", "Report", "Severity"]

_WIDTH = 100


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    area: str  # "ChartMogul", "Salesforce", "Salesforce API budget"...
    subject: str  # what the finding is about: "Account.CM_MRR__c", "login", "ds_..."
    message: str
    fix: str | None = None
    check: str | None = None  # which check failed, when a caller acts on it (``sf_schema``)

    @classmethod
    def ok(cls, area: str, subject: str, message: str) -> Finding:
        return cls(Severity.OK, area, subject, message)

    @classmethod
    def warning(cls, area: str, subject: str, message: str, fix: str | None = None) -> Finding:
        return cls(Severity.WARNING, area, subject, message, fix)

    @classmethod
    def error(
        cls,
        area: str,
        subject: str,
        message: str,
        fix: str | None = None,
        *,
        check: str | None = None,
    ) -> Finding:
        return cls(Severity.ERROR, area, subject, message, fix, check)


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, *groups: Iterable[Finding]) -> Report:
        return cls(tuple(f for group in groups for f in group))

    def _with(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return self._with(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return self._with(Severity.WARNING)

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error (a sync would fail), else 0."""
        return 1 if self.errors else 0

    def about(self, subject: str) -> tuple[Finding, ...]:
        """Findings whose subject is ``subject`` (any case)."""
        return tuple(f for f in self.findings if f.subject.casefold() == subject.casefold())

    def render(self) -> str:
        """The report as plain text: grouped by area, each problem followed by its fix."""
        lines: list[str] = []
        area = None
        for finding in self.findings:
            if finding.area != area:
                area = finding.area
                if lines:
                    lines.append("")
                lines.append(area)
            head = f"  {finding.severity.value:<8}{finding.subject}: {finding.message}"
            lines.extend(
                textwrap.wrap(head, _WIDTH, subsequent_indent=" " * 12, break_on_hyphens=False)
            )
            if finding.fix:
                lines.extend(
                    textwrap.wrap(
                        f"fix: {finding.fix}",
                        _WIDTH,
                        initial_indent=" " * 10,
                        subsequent_indent=" " * 15,
                        break_on_hyphens=False,
                    )
                )
        errors, warnings = len(self.errors), len(self.warnings)
        passed = len(self.findings) - errors - warnings
        verdict = "cmsync can sync" if not errors else "fix the errors before the first sync"
        lines += [
            "",
            f"{errors} error(s), {warnings} warning(s), {passed} ok: {verdict}",
        ]
        return "\n".join(lines)
