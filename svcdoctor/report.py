"""The Report: ranked findings, per-step status and the verdict — the ``svcdoctor/report/v1`` contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from svcdoctor.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK
from svcdoctor.findings import Finding, Target
from svcdoctor.k8s import ObjectRef
from svcdoctor.snapshot import Origin

SCHEMA = "svcdoctor/report/v1"
VERDICTS = ("unreachable", "degraded", "unknown", "ok")
#: A step's status: ``pass`` | ``fail`` (an error) | ``warn`` | ``unknown`` | ``skipped``.
STEP_STATUSES = ("pass", "fail", "warn", "unknown", "skipped")


@dataclass(frozen=True)
class CheckCrash:
    """A check that raised an unexpected exception: a bug in svcdoctor, not a property of the input."""

    check: str
    #: ``Type: message`` of the exception.
    error: str
    #: The formatted traceback (shown with ``--debug``, never in the report's JSON).
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "error": self.error}


@dataclass(frozen=True)
class CheckResult:
    """How one check went."""

    id: str
    step: int
    #: ``pass`` | ``fail`` | ``skipped`` | ``unknown``.
    status: str
    #: Why it was skipped or unknown ("" otherwise).
    reason: str = ""
    #: Set when the check crashed (its status is then ``unknown``).
    crash: CheckCrash | None = None


@dataclass(frozen=True)
class StepResult:
    step: int
    title: str
    status: str
    #: Why the step was skipped or unknown, when it was.
    reason: str = ""
    checks: tuple[CheckResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"step": self.step, "title": self.title, "status": self.status}
        if self.reason:
            result["reason"] = self.reason
        return result


@dataclass(frozen=True)
class Report:
    """The outcome of diagnosing one Service."""

    target: Target
    verdict: str
    #: Ranked: ``findings[0]`` is the root cause.
    findings: tuple[Finding, ...]
    steps: tuple[StepResult, ...]
    client: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    #: Findings hidden by ``--ignore``, annotations or a baseline.
    suppressed: tuple[Finding, ...] = ()
    #: Plain-words notes about coverage (e.g. what a static run could not check).
    notes: tuple[str, ...] = ()
    #: Where the objects the findings name were read from (file and lines), when known.
    origins: Mapping[ObjectRef, Origin] = field(default_factory=dict)
    #: Checks that crashed on this Service: the report is incomplete and no gate may pass it.
    internal_errors: tuple[CheckCrash, ...] = ()

    def origin_of(self, finding: Finding) -> tuple[str, int | None] | None:
        """The file and line a finding points at: its subject's field, else the object."""
        if finding.subject is None:
            return None
        origin = self.origins.get(finding.subject)
        if origin is None:
            return None
        return origin.path, origin.line_of(finding.subject_field)

    @property
    def root_cause(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def fails(self, threshold: str) -> bool:
        """Whether any finding is at or above ``threshold`` (error|warning|info|never)."""
        return any(f.severity.at_least(threshold) for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "schema": SCHEMA,
            "target": {"namespace": self.target.namespace, "name": self.target.name},
            "client": self.client,
            "source": self.source,
            "verdict": self.verdict,
            "findings": [self._finding_dict(finding) for finding in self.findings],
            "steps": [step.to_dict() for step in self.steps],
        }
        if self.suppressed:
            result["suppressed"] = [self._finding_dict(finding) for finding in self.suppressed]
        if self.notes:
            result["notes"] = list(self.notes)
        if self.internal_errors:
            result["internalErrors"] = [crash.to_dict() for crash in self.internal_errors]
        return result

    def _finding_dict(self, finding: Finding) -> dict[str, Any]:
        """A finding's JSON, with ``location`` (file and line of the offending field) when known."""
        result = finding.to_dict()
        origin = self.origin_of(finding)
        if origin is not None:
            result["location"] = {"path": origin[0], "line": origin[1]}
        return result


def exit_code(reports: Sequence[Report], fail_on: str) -> int:
    """The run's exit code: 70 when a check crashed (whatever ``fail_on``), else 1 or 0 by ``fail_on``."""
    if any(report.internal_errors for report in reports):
        return EXIT_INTERNAL
    return EXIT_FINDINGS if any(report.fails(fail_on) for report in reports) else EXIT_OK
