"""``svcdoctor reach`` output: the truth tables (``text``) or the ``svcdoctor/reach/v1`` document (``json``).

:func:`svcdoctor.netpol.matrix.read_expected` reads both back for ``reach --expect``.
"""

from __future__ import annotations

import json
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
    return visible(text(matrix, f"{matrix.layers} reachability ({', '.join(namespaces)})"))


def text(matrix: Matrix, title: str) -> str:
    """The truth tables, one per port, as upstream prints them (rows ``from``, columns ``to``)."""
    lines = [f"{title}: {len(matrix.sources)} source(s) x {len(matrix.destinations)} destination(s); "
             f"'{ALLOWED}' allowed, '{DENIED}' denied, '{NOT_APPLICABLE}' no such port on the destination"]
    for member in (*matrix.sources, *matrix.destinations):
        if len(member.pods) > 1:
            lines.append(f"  {member.id}: {len(member.pods)} Pods ({', '.join(member.pods[:3])}"
                         f"{', …' if len(member.pods) > 3 else ''})")
    lines = list(dict.fromkeys(lines))
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


