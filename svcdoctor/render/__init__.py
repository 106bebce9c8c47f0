"""Output renderers, kept apart from the checks: one module per format.

Each report format is a module that implements :class:`~svcdoctor.render.interface.ReportFormat`
(``render(report, options)`` and ``render_scan(reports, options)``, both given
:class:`~svcdoctor.render.interface.RenderOptions`); modules are imported only when their format
is asked for. ``reach`` and ``dns`` output their own documents through :mod:`svcdoctor.render.reach`
and :mod:`svcdoctor.render.dns`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from svcdoctor.errors import InputError
from svcdoctor.render.interface import RenderOptions, ReportFormat
from svcdoctor.report import Report
from svcdoctor.terminal import visible_everywhere

__all__ = ["FORMATS", "TERMINAL_FORMATS", "RenderOptions", "ReportFormat", "render", "render_scan"]

FORMATS: dict[str, str] = {
    "text": "svcdoctor.render.text",
    "json": "svcdoctor.render.json_format",
    "yaml": "svcdoctor.render.yaml_format",
    "markdown": "svcdoctor.render.markdown",
    "sarif": "svcdoctor.render.sarif",
    "junit": "svcdoctor.render.junit",
    "github": "svcdoctor.render.github",
    "html": "svcdoctor.render.html",
}

if TYPE_CHECKING:  # mypy checks every module named in FORMATS against the ReportFormat protocol
    from svcdoctor.render import github, html, json_format, junit, markdown, sarif, text, yaml_format

    _CONFORMING: tuple[ReportFormat, ...] = (text, json_format, yaml_format, markdown, sarif, junit, github, html)


def _module(output: str) -> ReportFormat:
    name = FORMATS.get(output)
    if name is None:
        raise InputError(f"unknown output format {output!r} (choose from {', '.join(FORMATS)})")
    return cast(ReportFormat, importlib.import_module(name))


#: Formats a terminal shows as they are: every string in them is made visible first
#: (:mod:`svcdoctor.terminal`); the others escape control characters by their own grammar.
TERMINAL_FORMATS = frozenset({"text", "markdown", "github"})


def render(report: Report, output: str, options: RenderOptions | None = None) -> str:
    module = _module(output)
    if output in TERMINAL_FORMATS:
        report = visible_everywhere(report)
    return module.render(report, options or RenderOptions())


def render_scan(reports: Sequence[Report], output: str, options: RenderOptions | None = None) -> str:
    module = _module(output)
    if output in TERMINAL_FORMATS:
        reports = [visible_everywhere(report) for report in reports]
    return module.render_scan(reports, options or RenderOptions())
