"""What every renderer shares: the options it is given and the functions an output format provides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from svcdoctor.report import Report


@dataclass(frozen=True)
class RenderOptions:
    """How to render: colour, width, whether to list suppressed findings, and the gate's threshold."""

    color: bool = False
    #: Columns of a terminal (text only).
    width: int = 100
    show_suppressed: bool = False
    #: ``--fail-on``: formats that record the run's exit code (SARIF) compute it with this.
    fail_on: str = "error"
    #: ``--accept-unknown``: an ``unknown`` verdict does not exit 4 (the JSON's ``exitCode`` says so too).
    accept_unknown: bool = False
    #: ``-v``: the text report shows every finding in full (evidence, next commands, fix).
    verbose: bool = False
    #: ``scan --all``: the text list shows every Service, not only those with findings.
    scan_all: bool = False


class ReportFormat(Protocol):
    """An output format of ``check`` and ``scan``: a module of :mod:`svcdoctor.render` with these functions.

    Add one by writing the module and naming it in :data:`svcdoctor.render.FORMATS` (and in the
    conformance list there, which mypy checks against this protocol).
    """

    def render(self, report: Report, options: RenderOptions) -> str:
        """One Service's report."""
        ...

    def render_scan(self, reports: Sequence[Report], options: RenderOptions) -> str:
        """A scan: every Service's report, worst first."""
        ...
