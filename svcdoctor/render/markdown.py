"""``-o markdown``: a report short enough to paste into a pull-request comment.

One check: a verdict line, the root cause with its fix, a table of the findings, and the
evidence and next commands folded in ``<details>``. A scan: a summary table, worst first, with
the healthy Services counted rather than listed. Text from the cluster is escaped so that it
cannot break the table or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from svcdoctor.findings import Finding, Severity
from svcdoctor.render.interface import RenderOptions
from svcdoctor.render.text import evidence_text
from svcdoctor.report import Report

VERDICT_MARKS = {"unreachable": "🔴", "degraded": "🟠", "unknown": "⚪", "ok": "🟢"}
STEP_MARKS = {"pass": "✅", "partial": "◐", "fail": "❌", "unknown": "❔", "skipped": "➖"}
#: A scan lists at most this many Services; GitHub comments stop at 65,536 characters.
MAX_SCAN_ROWS = 100
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def _path(report: Report) -> str:
    """The hops with the marks the steps use, as the text report and the HTML map draw them."""
    from svcdoctor.render.path import HOPS, hop_states

    states = hop_states(report)
    marks = {**STEP_MARKS, "break": "❌ **BREAK**"}
    return " → ".join(f"{hop.short} {marks.get(states[hop.key], '')}" for hop in HOPS)


def escape(text: str) -> str:
    """Plain text safe inside Markdown, table cells included (one line, no markup)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """Inline code that survives backticks and pipes inside table cells."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _verdict_line(report: Report) -> str:
    mark = VERDICT_MARKS.get(report.verdict, "")
    likely = report.verdict_confidence == "likely"
    line = (f"### {mark} svcdoctor: Service {_code(str(report.target))} is **{'likely ' if likely else ''}"
            f"{report.verdict}**" + (" as far as checked" if report.verdict == "ok" and report.coverage() else ""))
    if report.client:
        line += f" from {_code(report.client)}"
    return line


def _source_line(report: Report) -> str:
    source = report.source or {}
    where = source.get("path") or source.get("context")
    if not source.get("kind"):
        return ""
    return f"<sub>source: {escape(str(source['kind']))}" + (f" {_code(str(where))}" if where else "") + "</sub>"


def _details(finding: Finding) -> list[str]:
    lines = [f"**{finding.id}** {escape(finding.title)}" + (f" — follows from {finding.caused_by}"
                                                             if finding.caused_by else ""), "",
             escape(finding.message), ""]
    lines += [f"- evidence: {escape(evidence_text(item))}" for item in finding.evidence]
    if finding.fix:
        lines.append(f"- fix: {escape(finding.fix)}")
    if finding.next:
        commands = [" ".join(command.split()) for command in finding.next]
        fence = "~~~~" if any("```" in command for command in commands) else "```"
        lines += ["", fence + "sh", *commands, fence]
    lines.append("")
    return lines


def render(report: Report, options: RenderOptions) -> str:
    lines = [_verdict_line(report), ""]
    root = report.root_cause
    if report.verdict == "unknown":
        lines += ["Nothing found proves the Service unreachable or degraded, but evidence needed for a verdict is "
                  "missing:", ""]
        lines += [f"- {escape(reason)}" for reason in report.open_questions()]
        lines.append("")
    elif root is not None and root.severity is not Severity.INFO:
        cause = "Probable cause (likely: inferred from declarations)" if root.confidence == "likely" else "Root cause"
        lines += [f"**{cause} — {root.id} {escape(root.title)}.** {escape(root.message)}", ""]
        if root.fix:
            lines += [f"**Fix:** {escape(root.fix)}", ""]
    else:
        lines += ["No problems found at warning level or above"
                  + (f" as far as checked: {escape(report.coverage())}." if report.coverage() else "."), ""]
    if report.findings:
        lines += ["| # | check | severity | how sure | step | finding | follows from |",
                  "|---|---|---|---|---|---|---|"]
        for rank, finding in enumerate(report.findings, 1):
            lines.append(f"| {rank} | {finding.id} | {finding.severity.value} | {finding.confidence} | "
                         f"{finding.step} | {escape(finding.title)} | {finding.caused_by or ''} |")
        lines.append("")
    steps = " · ".join(f"{STEP_MARKS.get(s.status, '')} {s.step}" for s in report.steps)
    if steps:
        lines += [f"Steps: {steps}", "", f"Path: {_path(report)}", ""]
    if report.findings:
        lines += ["<details><summary>Evidence, next commands and fixes</summary>", ""]
        for finding in report.findings:
            lines += _details(finding)
        lines += ["</details>", ""]
    if report.suppressed:
        lines += [f"{len(report.suppressed)} finding(s) suppressed: "
                  + ", ".join(sorted({f.id for f in report.suppressed})), ""]
    for note in report.notes:
        lines += [f"_{escape(note)}_", ""]
    source = _source_line(report)
    if source:
        lines.append(source)
    return "\n".join(lines).rstrip() + "\n"


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    counts = {verdict: sum(1 for r in reports if r.verdict == verdict)
              for verdict in ("unreachable", "degraded", "unknown", "ok")}
    summary = ", ".join(f"{VERDICT_MARKS[v]} {n} {v}" for v, n in counts.items() if n) or "no Services"
    lines = [f"### svcdoctor scan: {len(reports)} Service(s)", "", summary, ""]
    listed = [r for r in reports if r.verdict != "ok"]
    if listed:
        lines += ["| verdict | service | root cause | findings |", "|---|---|---|---|"]
        for report in listed[:MAX_SCAN_ROWS]:
            root = report.root_cause
            cause = f"{root.id} {escape(root.title)}" if root and root.severity is not Severity.INFO else "–"
            counted = sum(1 for f in report.findings if f.severity is not Severity.INFO)
            lines.append(f"| {VERDICT_MARKS.get(report.verdict, '')} {report.verdict} | {_code(str(report.target))} "
                         f"| {cause} | {counted} |")
        if len(listed) > MAX_SCAN_ROWS:
            lines.append(f"| | … and {len(listed) - MAX_SCAN_ROWS} more | | |")
        lines.append("")
    if counts["ok"]:
        lines += [f"{counts['ok']} Service(s) ok.", ""]
    worst = [r for r in listed if r.root_cause is not None and r.root_cause.severity is not Severity.INFO]
    if worst:
        lines += ["<details><summary>Root causes and fixes</summary>", ""]
        for report in worst[:20]:
            root = report.root_cause
            assert root is not None
            lines += [f"- {_code(str(report.target))} — **{root.id}** {escape(root.message)}"
                      + (f" Fix: {escape(root.fix)}" if root.fix else "")]
        if len(worst) > 20:
            lines.append(f"- … and {len(worst) - 20} more (`svcdoctor scan -o json` lists them all)")
        lines += ["", "</details>"]
    return "\n".join(lines).rstrip() + "\n"
