"""``svcdoctor reach`` output: the truth tables (``text``) or the ``svcdoctor/reach/v1`` document (``json``).

:func:`svcdoctor.netpol.matrix.read_expected` reads both back for ``reach --expect``.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any

from svcdoctor.netpol.matrix import ALLOWED, DENIED, NOT_APPLICABLE, Matrix
from svcdoctor.render.interface import RenderOptions
from svcdoctor.terminal import visible

FORMATS = ("text", "json")


def render(matrix: Matrix, namespaces: Sequence[str], output: str, options: RenderOptions) -> str:
    """The matrix over ``namespaces`` in ``output`` (one of :data:`FORMATS`)."""
    if output == "json":
        return json.dumps(to_dict(matrix, namespaces), indent=2) + "\n"
    return visible(text(matrix, f"{matrix.layers} reachability ({', '.join(namespaces)})", options.width))


def _fold(text: str, width: int, indent: str = "", hanging: str = "  ") -> str:
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + hanging,
                         break_long_words=False, break_on_hyphens=False)


def legend(matrix: Matrix, width: int) -> list[str]:
    """What the cells and the row names mean: every group of several Pods, and every ``NAME#2``."""
    lines = [_fold(f"'{ALLOWED}' allowed, '{DENIED}' denied, '{NOT_APPLICABLE}' no such port on the destination",
                   width, "  ")]
    members = list({member.id: member for member in (*matrix.sources, *matrix.destinations)}.values())
    workloads = Counter(member.id.partition("#")[0] for member in members if member.pods)
    for member in members:
        split = workloads[member.id.partition("#")[0]] > 1
        if len(member.pods) < 2 and not split:
            continue
        node = member.endpoint.node if member.endpoint.host_network else ""
        lines.append(_fold(f"{member.id}: {len(member.pods)} Pod{'s' if len(member.pods) != 1 else ''} "
                           f"({', '.join(member.pods[:3])}{', …' if len(member.pods) > 3 else ''})"
                           + (f", host network on node {node}" if node else ""), width, "  ", "    "))
    if any(workloads[name] > 1 for name in workloads):
        lines.append(_fold("NAME#2, NAME#3…: Pods of one workload that the policies treat apart (other labels or "
                           "ports, or host-network Pods on different nodes), a row and a column each", width, "  ",
                           "    "))
    return lines


def text(matrix: Matrix, title: str, width: int = 100) -> str:
    """The truth tables, one per port, as upstream prints them (rows ``from``, columns ``to``), after a
    legend folded to ``width`` (the tables are never folded: ``reach --expect`` reads them back)."""
    lines = [_fold(f"{title}: {len(matrix.sources)} source(s) x {len(matrix.destinations)} destination(s)", width),
             *legend(matrix, width)]
    width = max([len("from\\to")] + [len(m.id) for m in matrix.sources])
    for table in matrix.ports:
        lines.append("")
        denied = sum(row.count(DENIED) for row in table.cells)
        kind = "Service port" if matrix.via_services else "Pod port"
        lines.append(f"port {table.port}  ({kind}; {denied} denied)")
        header = "from\\to".ljust(width) + " " + " ".join(m.id for m in matrix.destinations)
        lines.append(header)
        for member, row in zip(matrix.sources, table.cells, strict=True):
            cells = " ".join(cell.center(len(d.id)) for cell, d in zip(row, matrix.destinations, strict=True))
            lines.append(member.id.ljust(width) + " " + cells.rstrip())
    return "\n".join(lines) + "\n"


def to_dict(matrix: Matrix, namespaces: Sequence[str]) -> dict[str, Any]:
    """The ``svcdoctor/reach/v1`` JSON document."""
    return {
        "schema": "svcdoctor/reach/v1",
        "namespaces": list(namespaces),
        "sources": [m.to_dict() for m in matrix.sources],
        "destinations": [m.to_dict() for m in matrix.destinations],
        "ports": [{
            "port": table.port.port, "protocol": table.port.protocol,
            "via": "service" if matrix.via_services else "pod",
            "matrix": ["".join(row) for row in table.cells],
            "denied": [{"from": matrix.sources[r].id, "to": matrix.destinations[c].id, "by": by}
                       for r, c, by in table.denied_by],
        } for table in matrix.ports],
    }


