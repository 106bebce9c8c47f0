"""``-o text``: the human report — the verdict and root cause boxed first, then every step in order.

Each step gets a mark (✔ pass, ◐ partial, ✖ fail — ! when its worst finding is a warning —,
? unknown, – skipped); ✔ only for a step whose every check ran on its evidence; its findings follow,
indented, with the evidence, the next commands and the fix in a two-column grid so that wrapped
lines stay under their finding. Colour only on a terminal and never with ``NO_COLOR`` (the CLI
decides and passes ``color``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.color import ColorSystem
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report, StepResult

STEP_MARKS = {"pass": ("✔", "green"), "partial": ("◐", "yellow"), "fail": ("✖", "bold red"),
              "warn": ("!", "bold yellow"), "unknown": ("?", "magenta"), "skipped": ("–", "dim")}
SEVERITY_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
VERDICT_STYLES = {"unreachable": "bold red", "degraded": "bold yellow", "unknown": "bold magenta",
                  "ok": "bold green"}
VERDICT_WORDS = {"unreachable": "UNREACHABLE", "degraded": "DEGRADED", "unknown": "UNKNOWN", "ok": "OK"}
#: Longest evidence value shown; the JSON report has it whole.
MAX_VALUE = 160
#: Longest message shown, and most evidence items and next commands per finding: the terminal
#: report stays readable and its rendering time bounded however large the evidence (rich lays
#: out each line it wraps; a Pod with a million ports must not take minutes). JSON has it all.
MAX_MESSAGE = 2000
MAX_ROWS = 40


def _console(options: RenderOptions) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    color = options.color
    console = Console(file=buffer, width=options.width, force_terminal=color,
                      no_color=not color, color_system="standard" if color else None, highlight=False,
                      emoji=False, soft_wrap=False, legacy_windows=False)
    return console, buffer


def value_text(value: Any) -> str:
    """An evidence value on one line, shortened when long."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def shortened(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut at ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters; -o json has them)"


def evidence_text(item: Evidence) -> str:
    """``Object field = value — note`` for one evidence item."""
    text = " ".join(part for part in (str(item.object) if item.object else "", item.field or "") if part)
    value = value_text(item.value)
    if value:
        text += f" = {value}"
    if item.note:
        text += f" — {item.note}" if text else item.note
    return text


#: Width of the label column of a finding's details (``evidence``, ``next``, ``fix``) and the gap after it.
LABEL_WIDTH = len("evidence") + 2


def _details(finding: Finding, *, evidence: bool = True, fix: bool = False) -> Table:
    """The finding's evidence and a prose fix as a label | text grid, folded to the width; next commands
    and a YAML fix are printed apart, whole (:func:`_pasteable`)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True, min_width=len("evidence"))
    grid.add_column(overflow="fold")
    for index, item in enumerate(finding.evidence[:MAX_ROWS] if evidence else ()):
        grid.add_row("evidence" if index == 0 else "", Text(shortened(evidence_text(item))))
    if evidence and len(finding.evidence) > MAX_ROWS:
        grid.add_row("", Text(f"… {len(finding.evidence) - MAX_ROWS} more (-o json lists them)", style="dim"))
    if fix and finding.fix and not _is_yaml(finding.fix):
        grid.add_row("fix", Text(shortened(finding.fix), style="green"))
    return grid


def _is_yaml(fix: str) -> bool:
    """A fix of several lines is YAML (or a script) to paste: printed whole, line by line."""
    return len(fix.strip("\n").splitlines()) > 1


def _pasteable(lines: Sequence[str], label: str, style: str, indent: int) -> list[Text]:
    """``lines`` to paste, the first labelled: whole, never folded (the terminal may soft-wrap them)."""
    result = []
    for index, text in enumerate(lines):
        line = Text(" " * indent + (label if index == 0 else "").ljust(LABEL_WIDTH), style="dim")
        line.append(text, style=style)
        result.append(line)
    return result


def _print_finding(console: Console, finding: Finding, location: str, indent: int, style: str = "") -> None:
    """A finding in full under its step: head, message, evidence and a prose fix folded to the width;
    its next commands and a YAML fix whole."""
    console.print(Padding(_finding(finding, location), (0, 0, 0, indent), expand=False), style=style)
    commands = [shortened(command) for command in finding.next[:MAX_ROWS]]
    for line in _pasteable(commands, "next", "cyan", indent + 2):
        console.print(line, soft_wrap=True)
    if finding.fix and _is_yaml(finding.fix):
        for line in _pasteable(["", *finding.fix.strip("\n").splitlines()], "fix", "green", indent + 2):
            console.print(line, soft_wrap=True)
    elif finding.fix:
        console.print(Padding(_details(finding, evidence=False, fix=True), (0, 0, 0, indent + 2), expand=False),
                      style=style)


def location_text(report: Report, finding: Finding) -> str:
    """``file:line`` of the field a finding points at (manifests runs), "" when not known.

    A recorded snapshot knows its objects' lines too, but there the line of a Service in a dump
    is noise in a terminal; SARIF and ``-o github`` still carry it.
    """
    if (report.source or {}).get("kind") == "snapshot":
        return ""
    origin = report.origin_of(finding)
    if origin is None:
        return ""
    path, line = origin
    where = f"{path}:{line}" if line is not None else path
    note = report.origins[finding.subject].note if finding.subject is not None and finding.subject in report.origins \
        else ""
    return f"{where} ({note})" if note else where


def _finding(finding: Finding, location: str = "") -> RenderableType:
    head = Text()
    head.append(finding.id, style="bold")
    head.append("  ")
    head.append(finding.severity.value, style=SEVERITY_STYLES[finding.severity])
    head.append(f"  {finding.title}")
    if finding.caused_by:
        head.append(f"  ← follows from {finding.caused_by}", style="dim")
    at = [Padding(Text(f"at {location}", style="dim"), (0, 0, 0, 2), expand=False)] if location else []
    return Group(head, *at, Padding(Text(shortened(finding.message)), (0, 0, 0, 2), expand=False),
                 Padding(_details(finding), (0, 0, 0, 2), expand=False))


def _header(report: Report) -> Text:
    header = Text("svcdoctor", style="bold")
    header.append(f"  Service {report.target}", style="bold")
    if report.client:
        header.append(f"  from {report.client}")
    source = report.source or {}
    where = source.get("path") or source.get("context") or ""
    if source.get("kind"):
        header.append(f"\n{source['kind']}{': ' + str(where) if where else ''}", style="dim")
    return header


def _verdict_box(report: Report, width: int = 100) -> Panel:
    style = VERDICT_STYLES.get(report.verdict, "bold")
    title = Text()
    root = report.root_cause
    body: list[RenderableType] = []
    likely = root is not None and root.confidence == "likely"
    title.append(("LIKELY " if report.verdict_confidence == "likely" else "")
                 + VERDICT_WORDS.get(report.verdict, report.verdict.upper()), style=style)
    coverage = report.coverage()
    if report.verdict == "ok" and coverage:
        # The headline says what the verdict rests on; when it does not fit, its first part does.
        whole = f" as far as checked: {coverage}"
        title.append(whole if len(whole) <= width - 12 else f" as far as checked: {coverage.split('; ')[0]}",
                     style=style)
    if report.verdict == "unknown":
        # An unknown verdict has no root cause: what could not be decided comes first.
        title.append(f" · not decided: {_undecided(report)}", style="bold")
        reasons = report.open_questions()
        body.append(Text("Nothing found proves the Service unreachable or degraded, but evidence needed for a "
                         "verdict is missing:"))
        body += [Text(f"• {shortened(reason, 400)}", style="magenta") for reason in reasons[:4]]
        commands = _unknown_next(report)
        if commands:
            body.append(Text("next  " + commands[0], style="cyan"))
        others = [f for f in report.findings if f.severity is not Severity.INFO and f.impact != "unknown"]
        if others:
            body.append(Text(f"{len(others)} finding{'s' if len(others) != 1 else ''} below (likely, not proven: "
                             f"{', '.join(f.id for f in others[:4])})", style="dim"))
    elif root is not None and root.severity is not Severity.INFO:
        title.append(f" · {'probable cause' if likely else 'root cause'}: {root.id} {root.title}", style="bold")
        body.append(Text(shortened(root.message)))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        if location_text(report, root):
            grid.add_row("at", location_text(report, root))
        if root.fix and _is_yaml(root.fix):
            grid.add_row("fix", Text(f"the YAML under step {root.step} below", style="green"))
        elif root.fix:
            grid.add_row("fix", Text(shortened(root.fix), style="green"))
        # The next command goes under the box, whole: inside it, it would be folded at the border.
        body.append(grid)
        symptoms = [f for f in report.findings[1:] if f.severity is not Severity.INFO]
        if symptoms:
            linked = sum(1 for f in symptoms if f.caused_by == root.id)
            body.append(Text(f"{len(symptoms)} more finding{'s' if len(symptoms) != 1 else ''} below"
                             + (f" ({linked} follow{'s' if linked == 1 else ''} from it)" if linked else ""),
                             style="dim"))
    else:
        body.append(Text("No problems found at warning level or above"
                         + (f" as far as checked: {coverage}." if coverage else "."), style="green"))
    if likely and root is not None and report.verdict != "unknown":
        body.append(Text("likely: inferred from what the objects declare, not observed; a probe or a node dump "
                         "would prove it", style="dim"))
    border = style.split()[-1]
    room = max(10, width - 6)  # the box's corners and the spaces rich puts around its title
    if title.cell_len > room:
        # rich would crop the title mid-word at the border: cut it with an ellipsis, and say it whole inside.
        body.insert(0, Text(title.plain, style="bold"))
        title = title.copy()
        title.truncate(room - 1)
        title.append("…")
    return Panel(Group(*body), title=title, title_align="left", border_style=border, box=box.ROUNDED,
                 padding=(0, 1))


def _step_line(report: Report, step: StepResult) -> Table:
    status = step.status
    if status == "fail" and not any(f.step == step.step and f.severity is Severity.ERROR for f in report.findings):
        status = "warn"
    mark, style = STEP_MARKS.get(status, ("?", ""))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=2, justify="right")
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    title = Text(step.title, style="bold" if status in ("fail", "warn") else "")
    if status in ("skipped", "unknown", "partial") and step.reason:
        reason_style = {"skipped": "dim", "partial": "yellow"}.get(status, "magenta")
        title.append(f"   {status}: {step.reason}", style=reason_style)
    grid.add_row(Text(mark, style=style), Text(str(step.step), style=style), title)
    return grid


def render(report: Report, options: RenderOptions) -> str:
    """The default report: the verdict and root cause once, the path, one line per step, a summary line
    (at most some 30 lines at 100 columns); ``options.verbose`` gives every finding in full."""
    if options.verbose:
        return render_verbose(report, options)
    console, buffer = _console(options)
    console.print(_header(report))
    lines: list[Text] = []
    lines += _headline(report, console.width)
    lines.append(_path_line(report))
    for step in report.steps:
        lines.append(_fit(_compact_step(report, step), console.width))
    for crash in report.internal_errors:
        lines.append(_fold(Text(f"internal error in {crash.check}: {crash.error} (the report is incomplete)",
                                style="bold magenta"), console.width))
    for note in report.notes:
        lines.append(_fold(Text(f"note: {note}", style="dim"), console.width, hanging=6))
    if report.suppressed:
        lines.append(Text(f"{len(report.suppressed)} finding(s) suppressed"
                          + ("" if options.show_suppressed else " (--show-suppressed lists them)"), style="dim"))
        if options.show_suppressed:
            for finding in report.suppressed:
                lines.append(_fit(Text(f"   {finding.id} {finding.title}", style="dim"), console.width))
    lines.append(_summary(report, options))
    for line in lines:
        if line.no_wrap:
            # Commands and YAML: whole on their own line, never folded (the terminal may soft-wrap them).
            buffer.write(_plain_or_styled(line, options.color) + "\n")
        else:
            console.print(line)
    return _tidy(buffer.getvalue())


#: Most lines of the root cause's message in the default report (-v shows it whole).
HEADLINE_MESSAGE_LINES = 3
#: Most lines of a multi-line fix (YAML) printed whole in the default report; a longer one is left to -v.
FIX_LINES = 16


def _headline(report: Report, width: int) -> list[Text]:
    """The verdict and, once, the root cause: what, the deciding evidence, where, the fix, the next command."""
    style = VERDICT_STYLES.get(report.verdict, "bold")
    root = report.root_cause
    likely = root is not None and root.confidence == "likely" and report.verdict in ("unreachable", "degraded")
    title = Text(("LIKELY " if report.verdict_confidence == "likely" else "")
                 + VERDICT_WORDS.get(report.verdict, report.verdict.upper()), style=style)
    lines: list[Text] = []
    if report.verdict == "unknown":
        title.append(f" · not decided: {_undecided(report)}", style="bold")
        lines.append(_fold(title, width))
        for reason in report.open_questions()[:3]:
            lines.append(_fold(Text(reason, style="magenta"), width, indent=2, most=2))
        commands = _unknown_next(report)
        if commands:
            lines += [Text("  next:", style="dim"), _command(commands[0])]
        return lines
    if root is None or root.severity is Severity.INFO:
        coverage = report.coverage()
        title.append(f" as far as checked: {coverage}" if coverage else " · no problems found at warning level or "
                     "above", style=style)
        lines.append(_fold(title, width))
        return lines
    title.append(f" · {'probable cause' if likely else 'root cause'}: {root.id} {root.title}", style="bold")
    lines.append(_fold(title, width))
    message = Text(shortened(root.message))
    lines.append(_fold(message, width, indent=2, most=HEADLINE_MESSAGE_LINES))
    if root.evidence:
        lines.append(_fold(Text("evidence  " + evidence_text(root.evidence[0])), width, indent=2, most=1))
    location = location_text(report, root)
    if location:
        lines.append(_fold(Text(f"at {location}", style="dim"), width, indent=2, most=2))
    if root.fix:
        fix_lines = root.fix.strip("\n").splitlines()
        if 1 < len(fix_lines) <= FIX_LINES:
            # YAML to paste: every line whole and unfolded.
            lines.append(Text("  fix:", style="green"))
            lines += [_command(line, style="green") for line in fix_lines]
        elif len(fix_lines) > FIX_LINES:
            lines.append(_fold(Text(f"fix  {fix_lines[0]} ({len(fix_lines) - 1} more lines: -v)", style="green"),
                               width, indent=2, most=3))
        else:
            lines.append(_fold(Text("fix  " + root.fix, style="green"), width, indent=2, most=3))
    if root.next:
        lines += [Text("  next:", style="dim"), _command(root.next[0])]
    return lines


def _undecided(report: Report) -> str:
    """Why an ``unknown`` verdict was not decided, in a few words for its headline."""
    undecided = report.undeciding_findings()
    if undecided and not any(s.status == "unknown" for s in report.steps):
        first = undecided[0]
        return f"{first.title[:1].lower()}{first.title[1:]} ({first.id})"
    return "evidence it needs could not be read"


def _unknown_next(report: Report) -> list[str]:
    """The command that shows why: ``kubectl auth can-i`` for a refused read, else the deciding finding's."""
    refused = [command for f in report.findings if f.id == "SD001" for command in f.next]
    return refused or [command for f in report.undeciding_findings() for command in f.next]


def _command(command: str, style: str = "cyan") -> Text:
    """A line to paste: printed whole, never folded."""
    text = Text("  " + command, style=style)
    text.no_wrap = True
    return text


def _plain_or_styled(line: Text, color: bool) -> str:
    return _styled(line.plain, str(line.style), color) if color and line.style else line.plain


def _fold(text: Text, width: int, indent: int = 0, most: int = 0, hanging: int = 0) -> Text:
    """``text`` wrapped at ``width`` with an ``indent`` (lines after the first ``hanging`` columns deeper);
    at most ``most`` lines (0: all), the last ending in …."""
    room = max(20, width - indent - hanging)
    lines = list(text.wrap(Console(width=room, legacy_windows=False), room))
    if most and len(lines) > most:
        lines = lines[:most]
        last = lines[-1]
        last.truncate(max(1, width - indent - 2))
        last.append(" …")
    result = Text()
    for index, line in enumerate(lines):
        if index:
            result.append("\n")
        result.append(" " * (indent + (hanging if index else 0)))
        result.append_text(line)
    return result


def _fit(text: Text, width: int) -> Text:
    """``text`` on one line: cut with … when wider than ``width`` (-v shows it whole)."""
    if text.cell_len > width:
        text = text.copy()
        text.truncate(width - 1)
        text.append("…")
    return text


def _compact_step(report: Report, step: StepResult) -> Text:
    """One line per step: its mark, number, title, and why it is not a pass."""
    status = step.status
    findings = [f for f in report.findings if f.step == step.step and f.severity is not Severity.INFO]
    if status == "fail" and not any(f.severity is Severity.ERROR for f in findings):
        status = "warn"
    mark, style = STEP_MARKS.get(status, ("?", ""))
    line = Text(f" {mark} {step.step} ", style=style)
    line.append(step.title, style="bold" if status in ("fail", "warn") else "")
    if findings:
        first = findings[0]
        more = f" (+{len(findings) - 1})" if len(findings) > 1 else ""
        cause = f" ← {first.caused_by}" if first.caused_by else ""
        line.append(f"   {first.id} {first.title}{more}{cause}", style=SEVERITY_STYLES[first.severity])
    elif status in ("partial", "skipped", "unknown"):
        # An unknown step's reason is the read that failed, not the evidence it also went without.
        what = "; ".join(item.what for item in step.missing) if step.missing and status != "unknown" else step.reason
        prefix = {"partial": "partial: not checked: ", "skipped": "not checked: " if step.missing else "skipped: ",
                  "unknown": "unknown: "}[status]
        line.append(f"   {prefix}{what}", style={"skipped": "dim", "partial": "yellow"}.get(status, "magenta"))
    return line


def _path_line(report: Report) -> Text:
    """``path  client ✔ → name ◐ → Service ✖ BREAK → rules – → policy ◐ → Pods ✖``."""
    from svcdoctor.render.path import HOPS, hop_states

    states = hop_states(report)
    line = Text("path  ", style="dim")
    for index, hop in enumerate(HOPS):
        if index:
            line.append(" → ", style="dim")
        state = states[hop.key]
        if state == "break":
            line.append(f"{hop.short} ✖ BREAK", style="bold red")
        else:
            mark, style = STEP_MARKS.get(state, ("?", ""))
            line.append(f"{hop.short} {mark}", style=style)
    return line


def _summary(report: Report, options: RenderOptions) -> Text:
    """The last line: the verdict, what was not checked, and what the exit code means."""
    from svcdoctor.report import exit_code

    code = exit_code([report], options.fail_on, options.accept_unknown)
    meaning = {0: f"nothing at or above --fail-on {options.fail_on}", 1: f"findings at or above --fail-on "
               f"{options.fail_on}", 4: "the verdict is unknown (--accept-unknown accepts it)",
               70: "a check crashed (a bug in svcdoctor)"}.get(code, "")
    counted = [f for f in report.findings if f.severity is not Severity.INFO]
    # The same confidence as the headline: "likely unreachable" when the verdict rests on declarations alone.
    parts = [("likely " if report.verdict_confidence == "likely" else "") + report.verdict]
    if counted:
        parts.append(f"{len(counted)} finding{'s' if len(counted) != 1 else ''}")
    unchecked = [s for s in report.steps if s.status in ("partial", "skipped") and s.missing]
    if unchecked:
        parts.append("not fully checked: steps " + ", ".join(str(s.step) for s in unchecked))
    parts.append(f"exit {code}: {meaning}")
    parts.append("-v: every finding in full")
    return Text(" · ".join(parts), style=VERDICT_STYLES.get(report.verdict, "bold"))


def render_verbose(report: Report, options: RenderOptions) -> str:
    """Every step with its findings in full: evidence, next commands and fix (``-v``)."""
    console, buffer = _console(options)
    console.print(_header(report))
    console.print(_verdict_box(report, console.width))
    root = report.root_cause
    if report.verdict != "unknown" and root is not None and root.severity is not Severity.INFO and root.next:
        for line in _pasteable([shortened(root.next[0])], "next", "cyan", 1):
            console.print(line, soft_wrap=True)
    for step in report.steps:
        console.print(_step_line(report, step))
        for finding in report.findings:
            if finding.step == step.step:
                _print_finding(console, finding, location_text(report, finding), 5)
    for note in report.notes:
        console.print(_fold(Text(f"note: {note}", style="dim"), console.width, hanging=6))
    if report.suppressed:
        console.print(Text(f"{len(report.suppressed)} finding(s) suppressed"
                           + ("" if options.show_suppressed else " (--show-suppressed lists them)"),
                           style="dim"))
        if options.show_suppressed:
            for finding in report.suppressed:
                _print_finding(console, finding, "", 5, style="dim")
    return _tidy(buffer.getvalue())


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    """Every Service with findings, worst first, each with its root cause whole (and, for manifests,
    its file:line); the healthy ones only counted unless ``options.scan_all``."""
    console, buffer = _console(options)
    listed = [report for report in reports if options.scan_all or _has_findings(report)]
    hidden = len(reports) - len(listed)
    title = f"svcdoctor scan: {len(reports)} Service(s)"
    if not options.scan_all:
        title += f", {len(listed)} with findings"
    console.print(Text(title + (", worst first" if listed else ""), style="bold"))
    if listed:
        # Padded by hand and written straight out: a rich Table (or Text) measures and wraps
        # every cell, which costs seconds at thousands of rows; these columns are simple.
        rows = []
        for report in listed:
            root = report.root_cause
            cause = f"{root.id} {root.title}" if root and root.severity is not Severity.INFO else "–"
            origin = report.origin_of(root) if root is not None and cause != "–" else None
            if origin is not None:
                cause += f"  ({origin[0]}" + (f":{origin[1]})" if origin[1] is not None else ")")
            counted = sum(1 for f in report.findings if f.severity is not Severity.INFO)
            rows.append((report.verdict, str(report.target), str(counted), cause))
        verdict_width = max(len("verdict"), *(len(row[0]) for row in rows))
        service_width = max(len("service"), *(len(row[1]) for row in rows))
        count_width = len("findings")
        color = options.color
        verdicts = {verdict: _styled(f"{verdict:<{verdict_width}}", VERDICT_STYLES.get(verdict, ""), color)
                    for verdict in {row[0] for row in rows}}
        # The root cause comes last and whole: never cut, so it can be read and pasted.
        lines = [_styled(f"{'verdict':<{verdict_width}}  {'service':<{service_width}}  {'findings':>{count_width}}"
                         "  root cause", "bold", color)]
        for verdict, service, count, cause in rows:
            lines.append(f"{verdicts[verdict]}  {service:<{service_width}}  {count:>{count_width}}  {cause}")
        buffer.write("\n".join(lines) + "\n")
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.verdict] = counts.get(report.verdict, 0) + 1
    summary = Text()
    for verdict in ("unreachable", "degraded", "unknown", "ok"):
        if verdict in counts:
            if summary:
                summary.append(", ")
            summary.append(f"{counts[verdict]} {verdict}", style=VERDICT_STYLES[verdict])
    if hidden:
        # "Without findings" would hide the notes: say how many info findings the unlisted Services hold.
        notes = sum(1 for report in reports if not (options.scan_all or _has_findings(report))
                    for finding in report.findings if finding.severity is Severity.INFO)
        summary.append(f" ({hidden} without findings at warning or above not listed"
                       + (f", {notes} info finding{'s' if notes != 1 else ''} among them" if notes else "")
                       + "; --all lists every Service)", style="dim")
    console.print(summary if summary else Text("no Services"))
    _print_scan_suppressed(console, reports, options)
    return _tidy(buffer.getvalue())


def _has_findings(report: Report) -> bool:
    """Whether a scan lists the Service by default: a verdict other than ok, or a finding above info."""
    return report.verdict != "ok" or any(f.severity is not Severity.INFO for f in report.findings) \
        or bool(report.internal_errors)


def _print_scan_suppressed(console: Console, reports: Sequence[Report], options: RenderOptions) -> None:
    """How many findings were suppressed across the scan; with --show-suppressed, which and why."""
    total = sum(len(report.suppressed) for report in reports)
    if not total:
        return
    shown = options.show_suppressed
    console.print(Text(f"{total} finding(s) suppressed" + ("" if shown else " (--show-suppressed lists them)"),
                       style="dim"))
    if shown:
        for report in reports:
            for note in report.notes:
                if note.startswith("suppressed "):
                    console.print(_fold(Text(f"{report.target}: {note}", style="dim"), console.width, indent=3,
                                        hanging=2))


def _styled(text: str, style: str, color: bool) -> str:
    """``text`` with the ANSI codes of a rich style, when colour is on."""
    if not color or not style:
        return text
    return Style.parse(style).render(text, color_system=ColorSystem.STANDARD)


# The lookbehind starts a match only at the first space of a run: linear, not quadratic, in long runs.
_TRAILING_SPACE = re.compile(r"(?<! ) +((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def _tidy(text: str) -> str:
    """Drop the padding rich leaves at line ends (it only makes diffs and pastes noisy)."""
    return _TRAILING_SPACE.sub(r"\1", text)
