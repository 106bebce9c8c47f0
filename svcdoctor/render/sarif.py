"""``-o sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

A finding about a cluster object has no source line, yet GitHub rejects a result without a
physical location and region. So every result is anchored at the file the object was read from
(the snapshot or manifest file; the line when the source recorded it, else line 1) and carries
the object itself as a logical location. ``partialFingerprints`` hash the check ID, the Service,
the object and the finding's key — never a line or a message — so re-runs and reordering do
not open duplicate alerts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from svcdoctor import __version__
from svcdoctor.checks.interface import Check
from svcdoctor.findings import STEPS, Finding, Severity
from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report, exit_code

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: Where the generated check catalog is published; rules link to its anchors (``#sd301``).
DOCS_URL = "https://github.com/svcdoctor/svcdoctor/blob/main/docs/checks.md"
INFORMATION_URI = "https://github.com/svcdoctor/svcdoctor"
FINGERPRINT_KEY = "svcdoctor/v1"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: A check's default level, from what its error findings do to the verdict.
IMPACT_LEVELS = {"unreachable": "error", "degraded": "warning", "unknown": "warning", "none": "note"}


def _registered() -> dict[str, Check]:
    from svcdoctor.checks.registry import CHECKS

    return {check.id: check for check in CHECKS}


def _rule_ids(reports: Sequence[Report], registered: dict[str, Check]) -> list[str]:
    """The checks these reports evaluated (and any that produced a finding), in registry order."""
    seen: set[str] = set()
    for report in reports:
        for step in report.steps:
            seen.update(result.id for result in step.checks)
        seen.update(finding.id for finding in (*report.findings, *report.suppressed))
    order = {check_id: index for index, check_id in enumerate(registered)}
    return sorted(seen, key=lambda check_id: (order.get(check_id, len(order)), check_id))


def _rule(check_id: str, check: Check | None, example: Finding | None) -> dict[str, Any]:
    anchor = f"{DOCS_URL}#{check_id.lower()}"
    if check is None:  # a finding of a check that is not registered (should not happen)
        title = example.title if example else check_id
        return {"id": check_id, "name": example.name if example else check_id,
                "shortDescription": {"text": title}, "helpUri": anchor,
                "defaultConfiguration": {"level": LEVELS[example.severity] if example else "warning"}}
    step = f"step {check.step}, {STEPS.get(check.step, '')}"
    return {
        "id": check.id,
        "name": check.name,
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": f"{check.title} ({step}) {check.why}"},
        "help": {
            "text": f"{check.why}\n\nFix: {check.fix}\n\nMore: svcdoctor explain {check.id}",
            "markdown": f"**{check.title}** — {step}\n\n{check.why}\n\n**Fix.** {check.fix}\n\n"
                        f"`svcdoctor explain {check.id}` · [docs]({anchor})",
        },
        "helpUri": anchor,
        "defaultConfiguration": {"level": IMPACT_LEVELS.get(check.impact, "error")},
        "properties": {"tags": ["kubernetes", "service", "networking", f"step-{check.step}"],
                       "precision": "high"},
    }


def _artifact_uri(report: Report, path: str | None) -> str:
    """A URI for the file a result points at: relative to the working directory when inside it.

    GitHub resolves relative URIs against the repository root, where CI runs svcdoctor.
    """
    if path in ("-", "<stdin>"):
        return "stdin"
    if not path:
        context = str((report.source or {}).get("context") or "cluster")
        return f"kubernetes://{context}/namespaces/{report.target.namespace}/services/{report.target.name}"
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            relative = candidate.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return candidate.resolve().as_uri()
        return relative.as_posix()
    return Path(os.path.normpath(path)).as_posix()


def _location(report: Report, finding: Finding) -> dict[str, Any]:
    origin = report.origin_of(finding)
    path = origin[0] if origin else (report.source or {}).get("path")
    line = origin[1] if origin and origin[1] else 1
    subject = finding.subject or report.target.ref
    qualified = f"{subject.namespace}/{subject.kind}/{subject.name}" if subject.namespace else \
        f"{subject.kind}/{subject.name}"
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": _artifact_uri(report, str(path) if path else None)},
            "region": {"startLine": max(1, int(line))},
        },
        "logicalLocations": [{"name": subject.name, "fullyQualifiedName": qualified, "kind": "resource"}],
    }


def fingerprint(report: Report, finding: Finding) -> str:
    """Stable across re-runs and reordering: the check, the Service, the object, the finding's key."""
    subject = str(finding.subject) if finding.subject else ""
    text = "\x1f".join((finding.id, str(report.target), subject, finding.key))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _result(report: Report, finding: Finding, rule_index: dict[str, int], suppressed: bool) -> dict[str, Any]:
    text = finding.message.rstrip()
    if finding.fix:
        text += ("" if text.endswith((".", "!", "?")) else ".") + f" Fix: {finding.fix}"
    properties: dict[str, Any] = {
        "service": str(report.target),
        "step": finding.step,
        "severity": finding.severity.value,
        "impact": finding.impact,
        "confidence": finding.confidence,
        "verdict": report.verdict,
    }
    if finding.caused_by:
        properties["causedBy"] = finding.caused_by
    if report.client:
        properties["client"] = report.client
    if finding.evidence:
        properties["evidence"] = [item.to_dict() for item in finding.evidence]
    if finding.next:
        properties["next"] = list(finding.next)
    result: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": rule_index[finding.id],
        "level": LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [_location(report, finding)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(report, finding)},
        "properties": properties,
    }
    if suppressed:
        result["suppressions"] = [{"kind": "external", "justification": "suppressed by svcdoctor configuration"}]
    return result


def _invocation(reports: Sequence[Report], options: RenderOptions) -> dict[str, Any]:
    """How the run went: its exit code, and each check that crashed (which fails the run)."""
    fail_on = options.fail_on
    crashes = [(report, crash) for report in reports for crash in report.internal_errors]
    invocation: dict[str, Any] = {"executionSuccessful": not crashes, "exitCode": exit_code(reports, fail_on)}
    if crashes:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "descriptor": {"id": crash.check},
             "message": {"text": f"internal error: check {crash.check} crashed on Service {report.target}: "
                                 f"{crash.error}"}}
            for report, crash in crashes]
    return invocation


def document(reports: Sequence[Report], options: RenderOptions, category: str) -> dict[str, Any]:
    """The SARIF log: one run holding every report's results."""
    registered = _registered()
    rule_ids = _rule_ids(reports, registered)
    examples = {f.id: f for report in reports for f in (*report.findings, *report.suppressed)}
    rules = [_rule(check_id, registered.get(check_id), examples.get(check_id)) for check_id in rule_ids]
    rule_index = {check_id: index for index, check_id in enumerate(rule_ids)}
    results = []
    for report in reports:
        results += [_result(report, finding, rule_index, False) for finding in report.findings]
        results += [_result(report, finding, rule_index, True) for finding in report.suppressed]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "svcdoctor", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFORMATION_URI, "rules": rules}},
        "automationDetails": {"id": category},
        "invocations": [_invocation(reports, options)],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report, options: RenderOptions) -> str:
    category = f"svcdoctor/check/{report.target.namespace}/{report.target.name}/"
    return json.dumps(document([report], options, category), indent=2, default=str) + "\n"


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    return json.dumps(document(reports, options, "svcdoctor/scan/"), indent=2, default=str) + "\n"
