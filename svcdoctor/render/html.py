"""``-o html``: one self-contained page (inline CSS and SVG, no fetches, works offline and as a CI
artifact): the verdict, the path map with the break marked, the steps, every finding with its
evidence, and the next commands with copy buttons.

The path map draws the hops a packet takes — client → name (DNS, step 7) → Service (steps 1–3) →
the node's rules (step 8) → NetworkPolicy (step 6) → the endpoint Pods (steps 4, 5, 9) — each with
the state of its steps; the hop of the root cause's step is the break (``data-break="true"``).

A scan page gives each Service with findings a ``<section>`` that the browser lays out only when it
is scrolled near (``content-visibility: auto``): 1,000 sections of a 5,000-Service scan (13.5 MB)
open in about 2 s in Chromium instead of 5, every Service with a section (65 MB) in 7 s instead of
38 (``benchmarks/html_bench.py``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from svcdoctor.findings import Finding, Severity
from svcdoctor.render.interface import RenderOptions
from svcdoctor.render.path import HOPS, hop_states
from svcdoctor.report import Report
from svcdoctor.terminal import visible

MARKS = {"fail": "✖", "warn": "!", "unknown": "?", "partial": "◐", "skipped": "–", "pass": "✔", "break": "✖"}

CSS = """
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;padding:16px;
color:#1d232a;background:#fff;max-width:1100px;overflow-wrap:anywhere}h1{font-size:20px;margin:0 0 8px}
h2{font-size:17px;margin:20px 0 8px}.verdict{display:inline-block;padding:2px 10px;border-radius:4px;
font-weight:600;color:#fff}.v-unreachable{background:#b3261e}.v-degraded{background:#b26a00}
.v-unknown{background:#5f6368}.v-ok{background:#1e7b34}.root{border:2px solid #b3261e;border-radius:6px;
padding:10px 12px;margin:10px 0}.map{width:100%;height:auto;max-width:100%}.map-down{display:none;max-width:220px}
@media (max-width:640px){.map-across{display:none}.map-down{display:block}}
.steps{border-collapse:collapse;width:100%}.steps td{padding:3px 6px;border-bottom:1px solid #e3e3e3;
vertical-align:top;overflow-wrap:anywhere}.steps td.status{white-space:nowrap;width:1%}
.finding{border:1px solid #d0d7de;border-radius:6px;padding:10px 12px;
margin:10px 0;overflow-wrap:anywhere}.sev-error{border-left:6px solid #b3261e}.sev-warning{border-left:6px solid
#b26a00}.sev-info{border-left:6px solid #5f6368}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;
padding:8px;border-radius:4px;margin:4px 0;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}
.cmd{display:flex;gap:6px;align-items:flex-start}.cmd pre{flex:1;min-width:0;white-space:pre;overflow-wrap:normal;
overflow-x:auto}button.copy{flex:none;
font-size:12px;padding:4px 8px;cursor:pointer}ul.evidence{padding-left:18px;margin:4px 0}
.scan{border-collapse:collapse;width:100%}.scan td,.scan th{text-align:left;padding:3px 6px;
border-bottom:1px solid #e3e3e3;overflow-wrap:anywhere}@media (prefers-color-scheme:dark){
body{background:#0d1117;color:#e6edf3}pre{background:#161b22}.finding{border-color:#30363d}}
section{content-visibility:auto;contain-intrinsic-size:auto 1200px}
"""
SCRIPT = """
document.addEventListener('click',function(e){var b=e.target.closest('button.copy');if(!b)return;
var t=b.parentNode.querySelector('pre').textContent;function done(){b.textContent='copied';
setTimeout(function(){b.textContent='copy'},1500)}
if(navigator.clipboard){navigator.clipboard.writeText(t).then(done,function(){fallback()})}else{fallback()}
function fallback(){var a=document.createElement('textarea');a.value=t;document.body.appendChild(a);a.select();
try{document.execCommand('copy');done()}catch(x){}document.body.removeChild(a)}});
"""


def _e(text: object) -> str:
    return html.escape(visible(str(text)), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            f"<script>{SCRIPT}</script></body></html>\n")


def render(report: Report, options: RenderOptions) -> str:
    return _page(f"svcdoctor: {report.target} {report.verdict}", _report_body(report, options, 1))


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    rows = []
    for index, report in enumerate(reports):
        root = report.root_cause
        cause = f"{root.id} {root.title}" if root is not None and root.severity is not Severity.INFO else "–"
        link = f'<a href="#s{index}">{_e(report.target)}</a>' if has_section(report) else _e(report.target)
        rows.append(f'<tr><td><span class="verdict v-{_e(report.verdict)}">{_e(report.verdict)}</span></td>'
                    f"<td>{link}</td><td>{_e(cause)}</td></tr>")
    sections = [f'<section id="s{index}">{_report_body(report, options, 2)}</section>'
                for index, report in enumerate(reports) if has_section(report)]
    body = (f"<h1>svcdoctor scan: {len(reports)} Service(s)</h1>"
            f'<table class="scan"><tr><th>verdict</th><th>Service</th><th>root cause</th></tr>{"".join(rows)}'
            f"</table>{''.join(sections)}")
    return _page(f"svcdoctor scan: {len(reports)} Service(s)", body)


def has_section(report: Report) -> bool:
    """Whether a scan page gives the report a section of its own (a verdict or findings worth reading)."""
    return report.verdict != "ok" or any(f.severity is not Severity.INFO for f in report.findings)


def _report_body(report: Report, options: RenderOptions, level: int) -> str:
    heading, sub = f"h{level}", f"h{level + 1}"
    # As the text headline: "likely unreachable" when the verdict rests on likely findings alone.
    shown = ("likely " if report.verdict_confidence == "likely" else "") + report.verdict
    parts = [f'<{heading}>{_e(report.target)} <span class="verdict v-{_e(report.verdict)}" data-verdict='
             f'"{_e(report.verdict)}">{_e(shown)}</span></{heading}>',
             f"<div>client: {_e(report.client or 'clients in general')} · source: "
             f"{_e(report.source.get('path') or report.source.get('context') or report.source.get('kind') or '')}"
             "</div>"]
    root = report.root_cause
    if report.verdict == "unknown":
        # An unknown verdict has no root cause (DESIGN.md): say what left it open instead.
        parts.append('<div class="root" data-undecided="true"><b>Not decided: evidence the verdict needs is '
                     "missing</b>" + "".join(f"<div>{_e(item)}</div>" for item in report.open_questions()) + "</div>")
    elif root is not None and root.severity is not Severity.INFO:
        cause = "Probable cause" if root.confidence == "likely" else "Root cause"
        parts.append(f'<div class="root" data-root-cause="{_e(root.id)}"><b>{cause}: {_e(root.id)} '
                     f"{_e(root.title)}</b><div>{_e(root.message)}</div>{_commands(root.next[:1])}"
                     + (f"<div><b>Fix:</b> {_e(root.fix)}</div>" if root.fix else "") + "</div>")
    parts.append(f"<{sub}>Path</{sub}>{path_map(report)}")
    parts.append(f"<{sub}>Steps</{sub}>{_steps(report)}")
    if report.findings:
        parts.append(f"<{sub}>Findings</{sub}>" + "".join(_finding(f, report) for f in report.findings))
    if report.notes:
        parts.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in report.notes) + "</ul>")
    return "\n".join(parts)


def _steps(report: Report) -> str:
    rows = []
    for step in report.steps:
        reason = f" — {_e(step.reason)}" if step.reason else ""
        rows.append(f'<tr data-step="{step.step}" data-status="{_e(step.status)}">'
                    f'<td>{_e(MARKS.get(step.status, "?"))}</td><td>{step.step}</td>'
                    f'<td>{_e(step.title)}{reason}</td><td class="status">{_e(step.status)}</td></tr>')
    return f'<table class="steps">{"".join(rows)}</table>'


def _commands(commands: Iterable[str]) -> str:
    return "".join(f'<div class="cmd"><pre>{_e(command)}</pre><button class="copy" type="button">copy</button></div>'
                   for command in commands)


def _finding(finding: Finding, report: Report) -> str:
    evidence = []
    for item in finding.evidence:
        words = " ".join(str(part) for part in (item.object or "", item.field or "") if part)
        value = "" if item.value is None else f" = {item.value}"
        note = f" ({item.note})" if item.note else ""
        evidence.append(f"<li>{_e(words + value + note)}</li>")
    origin = report.origin_of(finding)
    where = f"<div>at {_e(origin[0])}" + (f":{origin[1]}" if origin[1] else "") + "</div>" if origin else ""
    caused = f" <i>(follows from {_e(finding.caused_by)})</i>" if finding.caused_by else ""
    return (f'<div class="finding sev-{_e(finding.severity.value)}" data-id="{_e(finding.id)}">'
            f"<b>{_e(finding.id)} {_e(finding.title)}</b> · {_e(finding.severity.value)}{caused}"
            f"<div>{_e(finding.message)}</div>{where}"
            + (f'<ul class="evidence">{"".join(evidence)}</ul>' if evidence else "")
            + _commands(finding.next)
            + (f"<div><b>Fix:</b></div><pre>{_e(finding.fix)}</pre>" if finding.fix else "") + "</div>")


def path_map(report: Report) -> str:
    """The path as inline SVG that scales to its container: one box per hop, the break in red; drawn
    across on a wide page and down on a narrow one (CSS picks one)."""
    return _path_svg(report, across=True) + _path_svg(report, across=False)


def _path_svg(report: Report, *, across: bool) -> str:
    states = hop_states(report)
    colours = {"break": "#b3261e", "fail": "#b3261e", "warn": "#b26a00", "unknown": "#5f6368",
               "partial": "#6a5acd", "skipped": "#9aa0a6", "pass": "#1e7b34"}
    box_width, box_height, gap = 150, 68, 30
    step_x, step_y = (box_width + gap, 0) if across else (0, box_height + gap)
    width = step_x * (len(HOPS) - 1) + box_width if across else box_width + 4
    height = box_height + 4 if across else step_y * (len(HOPS) - 1) + box_height + 4
    shapes = []
    for index, hop in enumerate(HOPS):
        x, y = 2 + index * step_x, 2 + index * step_y
        state = states[hop.key]
        colour = colours.get(state, "#5f6368")
        shapes.append(
            f'<g class="hop" data-hop="{hop.key}" data-state="{state}" data-break="{str(state == "break").lower()}">'
            f'<rect x="{x}" y="{y}" width="{box_width - 4}" height="{box_height}" rx="8" fill="none" '
            f'stroke="{colour}" stroke-width="{5 if state == "break" else 2}"/>'
            f'<text x="{x + box_width / 2 - 2}" y="{y + 28}" text-anchor="middle" font-size="14" '
            f'fill="currentColor">{_e(hop.label)}</text>'
            f'<text x="{x + box_width / 2 - 2}" y="{y + 50}" text-anchor="middle" font-size="14" fill="{colour}">'
            f'{_e(MARKS.get(state, "?"))} {_e("BREAK" if state == "break" else state)}</text></g>')
        if index:
            line: tuple[float, float, float, float]
            if across:
                line = (x - gap + 2, y + box_height / 2, x - 6, y + box_height / 2)
            else:
                line = (x + box_width / 2 - 2, y - gap + 2, x + box_width / 2 - 2, y - 6)
            shapes.append(f'<line x1="{line[0]}" y1="{line[1]}" x2="{line[2]}" y2="{line[3]}" stroke="#9aa0a6" '
                          f'stroke-width="2" marker-end="url(#arrow)"/>')
    orientation = "across" if across else "down"
    return (f'<svg class="map map-{orientation}" role="img" aria-label="the path a packet takes" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><defs><marker id="arrow" '
            f'viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
            f'<path d="M0,0L10,5L0,10z" fill="#9aa0a6"/></marker></defs>{"".join(shapes)}</svg>')
