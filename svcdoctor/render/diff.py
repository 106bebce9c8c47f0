"""``svcdoctor diff`` output: the verdict change of each Service and the changes on its path (``text``),
or the ``svcdoctor/diff/v1`` document (``json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from svcdoctor import __version__
from svcdoctor.diff import ServiceDiff
from svcdoctor.terminal import visible

FORMATS = ("text", "json")


def render(diffs: Sequence[ServiceDiff], output: str, exit_code: int) -> str:
    if output == "json":
        return json.dumps({"schema": "svcdoctor/diff/v1", "svcdoctorVersion": __version__, "exitCode": exit_code,
                           "services": [d.to_dict() for d in diffs]}, indent=2, default=str) + "\n"
    if not diffs:
        return "svcdoctor diff: no verdict changed\n"
    lines = []
    for service_diff in diffs:
        before, after = service_diff.before or "absent", service_diff.after or "absent"
        how = "worse" if service_diff.worse else ("better" if service_diff.changed else "unchanged")
        unread = [f"{change.object} not read in {change.unread_side}" for change in service_diff.not_read]
        if service_diff.after == "unknown" and unread:
            # An unknown verdict has no root cause (DESIGN.md): say what left it open.
            cause = "; not decided: " + "; ".join(unread)
        else:
            cause = f"; root cause now {service_diff.root_cause_after}" if service_diff.root_cause_after else ""
        lines.append(f"{service_diff.namespace}/{service_diff.name}: {before} → {after} ({how}{cause})")
        if not service_diff.changes:
            lines.append("  no change on its path in the recordings")
        area_width = max((len(c.area) for c in service_diff.changes), default=0)
        for change in service_diff.changes:
            if change.not_read:
                lines.append(f"  {change.area:<{area_width}}  {change.object}: not read in {change.unread_side} "
                             f"({change.field}) — not compared, not a removal")
                continue
            lines.append(f"  {change.area:<{area_width}}  {change.object} {change.field}: "
                         f"{_value(change.before)} → {_value(change.after)}")
    worse = sum(1 for d in diffs if d.worse)
    lines.append(f"{len(diffs)} Service(s) compared, {worse} worse")
    return visible("\n".join(lines) + "\n")


def _value(value: Any) -> str:
    """A field's value in a few words: a label map as kubectl writes a selector, lists joined."""
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return ",".join(f"{key}={item}" for key, item in sorted(value.items()))
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)
