"""``-o text``: the human report — root cause boxed first, then every step in order.

Colour only on a terminal and never with ``NO_COLOR`` (the CLI decides and passes ``color``).
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from svcdoctor.checks.interface import Finding, Severity
from svcdoctor.report import Report

STEP_MARKS = {"pass": ("✔", "green"), "fail": ("✖", "red"), "warn": ("!", "yellow"),
              "unknown": ("?", "magenta"), "skipped": ("–", "dim")}
SEVERITY_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
VERDICT_STYLES = {"unreachable": "bold white on red", "degraded": "bold black on yellow",
                  "unknown": "bold white on magenta", "ok": "bold white on green"}


def _console(options: Any) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=getattr(options, "width", 100), force_terminal=bool(options.color),
                      no_color=not options.color, color_system="standard" if options.color else None,
                      highlight=False, emoji=False, soft_wrap=False)
    return console, buffer


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "…"


def _finding_lines(finding: Finding, indent: str = "") -> list[Text]:
    lines = []
    head = Text(indent)
    head.append(f"{finding.id} ", style="bold")
    head.append(finding.severity.value, style=SEVERITY_STYLES[finding.severity])
    head.append(f"  {finding.title}")
    if finding.caused_by:
        head.append(f"  (follows from {finding.caused_by})", style="dim")
    lines.append(head)
    lines.append(Text(indent + "  " + finding.message))
    for item in finding.evidence:
        parts = [str(item.object) if item.object else ""]
        if item.field:
            parts.append(item.field)
        text = " ".join(p for p in parts if p)
        value = _value(item.value)
        if value:
            text += f" = {value}"
        if item.note:
            text += f"  ({item.note})" if text else item.note
        lines.append(Text(indent + "  evidence: " + text, style="dim"))
    for command in finding.next:
        lines.append(Text(indent + "  next:     " + command, style="cyan"))
    if finding.fix:
        lines.append(Text(indent + "  fix:      " + finding.fix, style="green"))
    return lines


def _with_location(lines: list[Text], report: Report, finding: Finding, indent: str) -> list[Text]:
    """The finding's lines with ``at: file:line`` (the offending field's line) after its head, when known."""
    origin = report.origin_of(finding)
    if origin is None:
        return lines
    path, line = origin
    where = f"{path}:{line}" if line is not None else path
    return [lines[0], Text(indent + "  at:       " + where, style="dim"), *lines[1:]]


def render(report: Report, options: Any) -> str:
    console, buffer = _console(options)
    header = Text("svcdoctor  ", style="bold")
    header.append(f"Service {report.target}")
    if report.client:
        header.append(f"  from {report.client}")
    source = report.source
    if source:
        where = source.get("path") or source.get("context") or ""
        header.append(f"  ({source.get('kind', '')}{': ' + str(where) if where else ''})", style="dim")
    console.print(header)
    verdict = Text(" verdict ", style="bold")
    verdict.append(f" {report.verdict.upper()} ", style=VERDICT_STYLES.get(report.verdict, "bold"))
    console.print(verdict)
    root = report.root_cause
    if root is not None and root.severity is not Severity.INFO:
        root_lines = _with_location(_finding_lines(root), report, root, "")
        console.print(Panel(Group(*root_lines), title=f"root cause: {root.id} {root.name}",
                            title_align="left", border_style=SEVERITY_STYLES[root.severity].split()[-1]))
    for step in report.steps:
        mark, style = STEP_MARKS.get(step.status, ("?", ""))
        line = Text(f" {mark} ", style=style)
        line.append(f"{step.step} {step.title}", style="bold" if step.status in ("fail", "warn") else "")
        if step.status in ("skipped", "unknown") and step.reason:
            line.append(f"   {step.status}: {step.reason}", style="dim")
        console.print(line)
        for finding in report.findings:
            if finding.step == step.step:
                for text in _with_location(_finding_lines(finding, indent="     "), report, finding, "     "):
                    console.print(text)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if report.suppressed:
        console.print(Text(f"{len(report.suppressed)} finding(s) suppressed", style="dim"))
        if getattr(options, "show_suppressed", False):
            for finding in report.suppressed:
                console.print(Text(f"   suppressed {finding.id} {finding.title}: {finding.message}", style="dim"))
    if not report.findings:
        console.print(Text("No problems found.", style="green"))
    return buffer.getvalue()


def render_scan(reports: list[Report], options: Any) -> str:
    console, buffer = _console(options)
    table = Table(title=f"svcdoctor scan: {len(reports)} Service(s), worst first", title_justify="left",
                  show_lines=False, expand=False)
    table.add_column("verdict")
    table.add_column("service")
    table.add_column("root cause")
    table.add_column("findings", justify="right")
    for report in reports:
        root = report.root_cause
        cause = f"{root.id} {root.title}" if root and root.severity is not Severity.INFO else "-"
        counted = [f for f in report.findings if f.severity is not Severity.INFO]
        table.add_row(Text(report.verdict, style=VERDICT_STYLES.get(report.verdict, "")), str(report.target),
                      cause, str(len(counted)))
    console.print(table)
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.verdict] = counts.get(report.verdict, 0) + 1
    console.print(", ".join(f"{counts[v]} {v}" for v in ("unreachable", "degraded", "unknown", "ok") if v in counts)
                  or "no Services")
    return buffer.getvalue()
