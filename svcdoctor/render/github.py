"""``-o github``: GitHub Actions workflow commands, so findings appear as annotations on the PR.

One line per finding on stdout::

    ::error file=deploy/service.yaml,line=12,title=SD301 The selector matches no Pod::The selector app=web …

Errors become ``::error``, warnings ``::warning`` and info findings ``::notice``. ``file`` and
``line`` come from :meth:`Report.origin_of` (the line of the offending field) and are left out when
the finding has no known position (a live or recorded-snapshot run), which GitHub shows on the run
summary instead of a file. Escaping follows the runner's rules: ``%``, CR and LF in the message;
additionally ``:`` and ``,`` in property values. Suppressed findings are not annotated; a last
plain line says how many there were.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from svcdoctor.findings import Finding, Severity
from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file``, ``title``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workspace_path(path: str) -> str:
    """A path as GitHub wants it: relative to the workspace (the checkout) when it is inside it."""
    root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    if os.path.isabs(path):
        try:
            relative = os.path.relpath(path, root)
        except ValueError:
            return path
        return path if relative.startswith("..") else relative
    return os.path.normpath(path)


def annotation(report: Report, finding: Finding) -> str:
    """The workflow command for one finding."""
    properties: list[str] = []
    origin = report.origin_of(finding)
    if origin is not None and origin[0] and not origin[0].startswith("<"):
        properties.append(f"file={escape_property(workspace_path(origin[0]))}")
        if origin[1] is not None:
            properties.append(f"line={origin[1]}")
    title = f"{finding.id} {finding.title}" + (" (likely)" if finding.confidence == "likely" else "")
    properties.append(f"title={escape_property(title)}")
    message = finding.message
    if str(report.target) not in message:
        message = f"Service {report.target}: {message}"
    if origin is not None and origin[0].startswith("<") and origin[1] is not None:
        message += f" ({origin[0]} line {origin[1]})"
    note = report.origins[finding.subject].note if finding.subject is not None and finding.subject in report.origins \
        else ""
    if note:
        message += f" ({note})"
    if finding.caused_by:
        message += f"\nFollows from {finding.caused_by}."
    if finding.fix:
        message += f"\nFix: {finding.fix}"
    if finding.next:
        message += "\nSee: " + finding.next[0]
    return f"::{COMMANDS[finding.severity]} {','.join(properties)}::{escape_data(message)}"


def _lines(report: Report) -> list[str]:
    return [annotation(report, finding) for finding in report.findings]


def _summary(reports: Sequence[Report]) -> str:
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.verdict] = counts.get(report.verdict, 0) + 1
    verdicts = ", ".join(f"{counts[v]} {v}" for v in ("unreachable", "degraded", "unknown", "ok") if v in counts)
    findings = sum(len(report.findings) for report in reports)
    suppressed = sum(len(report.suppressed) for report in reports)
    text = f"svcdoctor: {len(reports)} Service(s): {verdicts or 'none'}; {findings} finding(s)"
    if suppressed:
        text += f", {suppressed} suppressed"
    return text


def render(report: Report, options: RenderOptions) -> str:
    lines = _lines(report)
    lines.append(_summary([report]).replace("1 Service(s)", f"Service {report.target}"))
    return "\n".join(lines) + "\n"


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    lines = [line for report in reports for line in _lines(report)]
    lines.append(_summary(reports))
    return "\n".join(lines) + "\n"
