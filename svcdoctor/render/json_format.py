"""``-o json``: the ``svcdoctor/report/v2`` contract of DESIGN.md (schema: svcdoctor/data/report-v2.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from svcdoctor.render.interface import RenderOptions
from svcdoctor.report import Report


def render(report: Report, options: RenderOptions) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


def render_scan(reports: Sequence[Report], options: RenderOptions) -> str:
    document = {
        "schema": "svcdoctor/scan/v2",
        "summary": summary(reports),
        "reports": [report.to_dict() for report in reports],
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def summary(reports: Sequence[Report]) -> dict[str, int]:
    counts = {"services": len(reports), "unreachable": 0, "degraded": 0, "unknown": 0, "ok": 0}
    for report in reports:
        counts[report.verdict] += 1
    return counts
