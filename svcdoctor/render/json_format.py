"""``-o json``: the ``svcdoctor/report/v2`` contract of DESIGN.md (schema:
svcdoctor/data/report-v2.schema.json).

Besides the report itself the document carries ``exitCode``: what this run exits with for its
``--fail-on``, so a CI log that keeps only the JSON still says whether the gate passed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from svcdoctor import __version__
from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report, exit_code


def document(report: Report, options: RenderOptions) -> dict[str, Any]:
    """One report's JSON document (``-o json`` and ``-o yaml``)."""
    return {**report.to_dict(), "exitCode": exit_code([report], options.fail_on, options.accept_unknown)}


def scan_document(reports: Sequence[Report], options: RenderOptions) -> dict[str, Any]:
    """A scan's JSON document: the counts, every report (worst first) and the run's exit code."""
    return {
        "schema": "svcdoctor/scan/v2",
        "svcdoctorVersion": __version__,
        "summary": summary(reports),
        "exitCode": exit_code(reports, options.fail_on, options.accept_unknown),
        "reports": [report.to_dict() for report in reports],
    }


def render(report: Report, options: RenderOptions) -> str:
    return json.dumps(document(report, options), indent=2, sort_keys=False, default=str) + "\n"


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    return json.dumps(scan_document(reports, options), indent=2, default=str) + "\n"


def summary(reports: Sequence[Report]) -> dict[str, int]:
    counts = {"services": len(reports), "unreachable": 0, "degraded": 0, "unknown": 0, "ok": 0}
    for report in reports:
        counts[report.verdict] += 1
    return counts
