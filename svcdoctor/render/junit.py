"""``-o junit``: JUnit XML for CI systems that show test reports.

One ``testsuite`` per Service and one ``testcase`` per debugging step: a step that failed or
warned carries a ``failure`` listing its findings; a step that was skipped or could not be
decided carries ``skipped`` with the reason; a check that crashed is a testcase with an ``error``.
A scan writes one suite per Service.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

from svcdoctor.findings import Finding
from svcdoctor.render.interface import RenderOptions
from svcdoctor.render.text import value_text
from svcdoctor.report import Report, StepResult

#: Characters XML 1.0 cannot carry at all, even escaped.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL_XML.sub("\ufffd", text)


def _finding_text(finding: Finding) -> str:
    lines = [f"{finding.id} {finding.severity.value}: {finding.title}"
             + (" (likely: inferred from declarations)" if finding.confidence == "likely" else "")
             + (f" (follows from {finding.caused_by})" if finding.caused_by else ""),
             f"  {finding.message}"]
    for item in finding.evidence:
        where = " ".join(part for part in (str(item.object) if item.object else "", item.field or "") if part)
        value = value_text(item.value)
        lines.append("  evidence: " + where + (f" = {value}" if value else "") + (f"  ({item.note})" if item.note
                                                                                   else ""))
    lines += [f"  next: {command}" for command in finding.next]
    if finding.fix:
        lines.append(f"  fix: {finding.fix}")
    return "\n".join(lines)


def _testcase(suite: ElementTree.Element, report: Report, step: StepResult) -> str:
    """Add the step's testcase; return its outcome (``passed`` | ``failed`` | ``skipped``)."""
    classname = f"svcdoctor.{report.target.namespace}.{report.target.name}"
    case = ElementTree.SubElement(suite, "testcase", {"classname": _clean(classname),
                                                      "name": _clean(f"step {step.step}: {step.title}"),
                                                      "time": "0"})
    findings = [f for f in report.findings if f.step == step.step]
    if step.status == "fail":
        failing = [f for f in findings if f.severity.value != "info"] or findings
        first = failing[0]
        failure = ElementTree.SubElement(case, "failure", {
            "message": _clean(f"{first.id} {first.title}" + (f" (+{len(failing) - 1} more)" if len(failing) > 1
                                                             else "")),
            "type": _clean(first.severity.value),
        })
        failure.text = _clean("\n\n".join(_finding_text(f) for f in failing))
        return "failed"
    if step.status in ("skipped", "unknown", "partial"):
        # A partly checked step is not a pass: JUnit has no such state, so it is reported as skipped.
        reason = step.reason or step.status
        prefix = {"unknown": "could not decide: ", "partial": "partly checked; "}.get(step.status, "")
        ElementTree.SubElement(case, "skipped", {"message": _clean(prefix + reason)})
        return "skipped"
    if findings:  # info findings on a passing step
        output = ElementTree.SubElement(case, "system-out")
        output.text = _clean("\n\n".join(_finding_text(f) for f in findings))
    return "passed"


def _suite(parent: ElementTree.Element, report: Report) -> tuple[int, int, int, int]:
    suite = ElementTree.SubElement(parent, "testsuite", {"name": _clean(f"svcdoctor {report.target}")})
    properties = ElementTree.SubElement(suite, "properties")
    values = {"service": str(report.target), "verdict": report.verdict,
              "root_cause": report.root_cause.id if report.root_cause else "",
              "client": report.client or "", "source": str((report.source or {}).get("path") or
                                                             (report.source or {}).get("kind") or "")}
    for key, value in values.items():
        ElementTree.SubElement(properties, "property", {"name": key, "value": _clean(value)})
    outcomes = [_testcase(suite, report, step) for step in report.steps]
    for crash in report.internal_errors:  # JUnit's error: the test could not run (a bug in svcdoctor)
        case = ElementTree.SubElement(suite, "testcase", {
            "classname": _clean(f"svcdoctor.{report.target.namespace}.{report.target.name}"),
            "name": _clean(f"check {crash.check}"), "time": "0"})
        ElementTree.SubElement(case, "error", {"message": _clean(f"internal error: {crash.error}"),
                                               "type": "internal-error"})
        outcomes.append("error")
    counts = (len(outcomes), outcomes.count("failed"), outcomes.count("skipped"), outcomes.count("error"))
    suite.set("tests", str(counts[0]))
    suite.set("failures", str(counts[1]))
    suite.set("errors", str(counts[3]))
    suite.set("skipped", str(counts[2]))
    suite.set("time", "0")
    return counts


def _document(reports: Sequence[Report]) -> str:
    root = ElementTree.Element("testsuites", {"name": "svcdoctor"})
    totals = [0, 0, 0, 0]
    for report in reports:
        for index, count in enumerate(_suite(root, report)):
            totals[index] += count
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[3]))
    root.set("skipped", str(totals[2]))
    root.set("time", "0")
    ElementTree.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def render(report: Report, options: RenderOptions) -> str:
    return _document([report])


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    return _document(reports)
