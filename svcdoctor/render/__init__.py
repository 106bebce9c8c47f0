"""Output renderers, kept apart from the checks: one module per format.

Each module has ``render(report, options) -> str`` and ``render_scan(reports, options) -> str``.
Modules are imported only when their format is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor.errors import InputError
from svcdoctor.report import Report
from svcdoctor.terminal import visible_everywhere

FORMATS: dict[str, str] = {
    "text": "svcdoctor.render.text",
    "json": "svcdoctor.render.json_format",
    "yaml": "svcdoctor.render.yaml_format",
    "markdown": "svcdoctor.render.markdown",
    "sarif": "svcdoctor.render.sarif",
    "junit": "svcdoctor.render.junit",
    "github": "svcdoctor.render.github",
}


@dataclass(frozen=True)
class RenderOptions:
    """How to render: colour, width, and whether to list suppressed findings."""

    color: bool = False
    width: int = 100
    show_suppressed: bool = False
    verbose: bool = False
    extra: dict[str, Any] | None = None


def _module(output: str) -> Any:
    name = FORMATS.get(output)
    if name is None:
        raise InputError(f"unknown output format {output!r} (choose from {', '.join(FORMATS)})")
    return importlib.import_module(name)


#: Formats a terminal shows as they are: every string in them is made visible first
#: (:mod:`svcdoctor.terminal`); the others escape control characters by their own grammar.
TERMINAL_FORMATS = frozenset({"text", "markdown", "github"})


def render(report: Report, output: str, options: RenderOptions | None = None) -> str:
    module = _module(output)
    if output in TERMINAL_FORMATS:
        report = visible_everywhere(report)
    return str(module.render(report, options or RenderOptions()))


def render_scan(reports: Sequence[Report], output: str, options: RenderOptions | None = None) -> str:
    module = _module(output)
    if output in TERMINAL_FORMATS:
        reports = [visible_everywhere(report) for report in reports]
    return str(module.render_scan(list(reports), options or RenderOptions()))
