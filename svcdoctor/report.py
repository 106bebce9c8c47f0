"""The Report: ranked findings, per-step status and the verdict — the ``svcdoctor/report/v2`` contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from svcdoctor import __version__
from svcdoctor.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_UNKNOWN
from svcdoctor.findings import Finding, Severity, Target
from svcdoctor.k8s import ObjectRef
from svcdoctor.snapshot import Origin

SCHEMA = "svcdoctor/report/v2"
VERDICTS = ("unreachable", "degraded", "unknown", "ok")
#: A step's status (DESIGN.md "Step states"): ``pass`` (every check ran on the evidence it needs and
#: found nothing at warning or above) | ``partial`` (some checks ran, others lacked their evidence) |
#: ``fail`` (a finding at warning or above) | ``unknown`` (evidence it needed was refused or unreadable) |
#: ``skipped`` (no check could run, or none applies).
STEP_STATUSES = ("pass", "partial", "fail", "unknown", "skipped")
#: What each step looks at, in a few words (the headline says which were not checked).
STEP_SUBJECTS: dict[int, str] = {
    0: "what svcdoctor could read", 1: "the Service", 2: "its definition", 3: "the selector", 4: "the Pods",
    5: "the endpoints", 6: "NetworkPolicy", 7: "DNS", 8: "kube-proxy rules", 9: "traffic",
}


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
    #: ``pass`` | ``fail`` | ``skipped`` (nothing to judge here) | ``not-checked`` (its evidence was not
    #: given) | ``partial`` (it ran, but on a snapshot without a kind it reads) | ``unknown``.
    status: str
    #: Why it was skipped, not checked or unknown ("" otherwise).
    reason: str = ""
    #: What evidence was missing, in a few words ("no node dump"), for ``not-checked`` and ``partial``.
    what: str = ""
    #: How to add that evidence.
    how: str = ""
    #: Set when the check found that its whole step plays no part in the Service's path (status ``skipped``).
    step_does_not_apply: bool = False
    #: Set when the check crashed (its status is then ``unknown``).
    crash: CheckCrash | None = None


@dataclass(frozen=True)
class Missing:
    """Evidence a step went without: what, how to add it, and the checks that needed it."""

    what: str
    how: str
    checks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "how": self.how, "checks": list(self.checks)}

    def __str__(self) -> str:
        return self.what + (f" — {self.how}" if self.how else "")


@dataclass(frozen=True)
class StepResult:
    step: int
    title: str
    status: str
    #: Why the step was skipped, partial or unknown, when it was.
    reason: str = ""
    checks: tuple[CheckResult, ...] = ()
    #: The checks that ran on the evidence they need.
    checked: tuple[str, ...] = ()
    #: What was not read, and how to add it.
    missing: tuple[Missing, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"step": self.step, "title": self.title, "status": self.status}
        if self.reason:
            result["reason"] = self.reason
        result["checked"] = list(self.checked)
        result["missing"] = [item.to_dict() for item in self.missing]
        return result

    @property
    def not_checked(self) -> bool:
        """Skipped for want of evidence (rather than because nothing in it applies)."""
        return self.status == "skipped" and bool(self.missing)


def step_ranges(steps: list[int]) -> str:
    """``[1, 2, 3, 5]`` → ``steps 1–3, 5``."""
    runs: list[list[int]] = []
    for step in sorted(steps):
        if runs and runs[-1][-1] == step - 1:
            runs[-1].append(step)
        else:
            runs.append([step])
    words = [str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs]
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(words)


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Report:
    """The outcome of diagnosing one Service."""

    target: Target
    verdict: str
    #: Ranked: ``findings[0]`` is the root cause.
    findings: tuple[Finding, ...]
    steps: tuple[StepResult, ...]
    client: str | None = None
    #: What the evidence says of the client: ``skipped`` (none given, or an address nothing can read),
    #: ``pass`` (read and there), ``unknown`` (its kind could not be read), ``fail`` (read and absent).
    client_state: str = "skipped"
    source: dict[str, Any] = field(default_factory=dict)
    #: Findings hidden by ``--ignore``, annotations or a baseline.
    suppressed: tuple[Finding, ...] = ()
    #: Plain-words notes about coverage (e.g. what a static run could not check).
    notes: tuple[str, ...] = ()
    #: Where the objects the findings name were read from (file and lines), when known.
    origins: Mapping[ObjectRef, Origin] = field(default_factory=dict)
    #: Checks that crashed on this Service: the report is incomplete and no gate may pass it.
    internal_errors: tuple[CheckCrash, ...] = ()
    #: When the evidence was taken (RFC 3339, from the snapshot's SnapshotInfo), None when not recorded.
    captured_at: str | None = None

    def origin_of(self, finding: Finding) -> tuple[str, int | None] | None:
        """The file and line a finding points at: its subject's field, else the object."""
        if finding.subject is None:
            return None
        origin = self.origins.get(finding.subject)
        if origin is None:
            return None
        return origin.path, origin.line_of(finding.subject_field)

    def coverage(self) -> str:
        """What the verdict rests on, in one line: "steps 1–6; kube-proxy rules and traffic not checked".

        "" when every step that applies passed on all of its evidence (or the report is not ``ok``).
        """
        passed = [s.step for s in self.steps if s.status == "pass" and s.step > 0]
        partial = [STEP_SUBJECTS.get(s.step, f"step {s.step}") for s in self.steps if s.status == "partial"]
        unchecked = [STEP_SUBJECTS.get(s.step, f"step {s.step}") for s in self.steps if s.not_checked]
        if not partial and not unchecked:
            return ""
        parts = [step_ranges(passed)] if passed else ["no step fully"]
        if partial:
            parts.append(f"{_joined(partial)} partly checked")
        if unchecked:
            parts.append(f"{_joined(unchecked)} not checked")
        return "; ".join(parts)

    @property
    def root_cause(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def verdict_confidence(self) -> str | None:
        """How sure an ``unreachable`` or ``degraded`` verdict is: ``certain`` when a finding that decides
        it (at warning or above, with that impact) is certain — observed or an API fact —, else ``likely``
        (it rests on declarations alone). None for ``ok`` and ``unknown``, which no finding decides."""
        if self.verdict not in ("unreachable", "degraded"):
            return None
        deciding = [f for f in self.findings if f.impact == self.verdict and f.severity is not Severity.INFO]
        return "certain" if not deciding or any(f.confidence == "certain" for f in deciding) else "likely"

    def undeciding_findings(self) -> list[Finding]:
        """The findings that leave the verdict open (impact ``unknown``): a refused read, blind probes…"""
        return [f for f in self.findings if f.impact == "unknown" and f.severity is not Severity.INFO]

    def open_questions(self) -> list[str]:
        """What left an ``unknown`` verdict open, one line each: the unknown steps' reasons, then the findings
        that leave it open (a refused read is already its step's reason)."""
        reasons = [f"step {s.step}: {s.reason}" for s in self.steps if s.status == "unknown" and s.reason]
        reasons += [f"step {f.step}: {f.id} {f.message}" for f in self.undeciding_findings() if f.id != "SD001"]
        return reasons

    def fails(self, threshold: str) -> bool:
        """Whether any finding is at or above ``threshold`` (error|warning|info|never)."""
        return any(f.severity.at_least(threshold) for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON: every key is present in every report (empty lists and nulls included)."""
        root = self.root_cause
        return {
            "schema": SCHEMA,
            "svcdoctorVersion": __version__,
            "target": {"namespace": self.target.namespace, "name": self.target.name},
            "client": self.client,
            "source": self.source,
            "capturedAt": self.captured_at,
            "verdict": self.verdict,
            "verdictConfidence": self.verdict_confidence,
            "rootCause": root.id if root is not None else None,
            "findings": [self._finding_dict(finding) for finding in self.findings],
            "suppressed": [self._finding_dict(finding) for finding in self.suppressed],
            "steps": [step.to_dict() for step in self.steps],
            "notes": list(self.notes),
            "internalErrors": [crash.to_dict() for crash in self.internal_errors],
        }

    def _finding_dict(self, finding: Finding) -> dict[str, Any]:
        """A finding's JSON, with ``location`` (file and line of the offending field; null when not known)."""
        result = finding.to_dict()
        origin = self.origin_of(finding)
        result["location"] = {"path": origin[0], "line": origin[1]} if origin is not None else None
        return result


def exit_code(reports: Sequence[Report], fail_on: str, accept_unknown: bool = False) -> int:
    """The run's exit code: 70 when a check crashed (whatever ``fail_on``), else 1 for findings at or above
    ``fail_on``, else 4 for an ``unknown`` verdict (unless ``accept_unknown``), else 0."""
    if any(report.internal_errors for report in reports):
        return EXIT_INTERNAL
    if any(report.fails(fail_on) for report in reports):
        return EXIT_FINDINGS
    if not accept_unknown and any(report.verdict == "unknown" for report in reports):
        return EXIT_UNKNOWN
    return EXIT_OK
