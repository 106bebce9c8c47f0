"""The path a packet takes to a Service, hop by hop, with each hop's state — drawn by the text
report (one line) and the HTML page (SVG).

client (read, when a Pod or node is given) → name (DNS, step 7) → Service/ClusterIP (steps 1–3) →
the node's rules (step 8) → NetworkPolicy (step 6) → the endpoint Pods (steps 4, 5, 9). A hop shows
the worst state of its steps; the hop of the root cause's step is the break.
"""

from __future__ import annotations

from dataclasses import dataclass

from svcdoctor.findings import Severity
from svcdoctor.report import Report


@dataclass(frozen=True)
class Hop:
    key: str
    label: str
    #: The short label of the one-line map.
    short: str
    steps: tuple[int, ...]


HOPS = (
    Hop("client", "client", "client", ()),
    Hop("dns", "name (DNS)", "name", (7,)),
    Hop("service", "Service / ClusterIP", "Service", (1, 2, 3)),
    Hop("rules", "node rules", "rules", (8,)),
    Hop("policy", "NetworkPolicy", "policy", (6,)),
    Hop("pods", "endpoint Pods", "Pods", (4, 5, 9)),
)
#: Worst first: a hop shows the worst of its steps' states.
STATE_ORDER = ("fail", "warn", "unknown", "partial", "skipped", "pass")


def hop_states(report: Report) -> dict[str, str]:
    """Each hop's state, ``break`` at the root cause's hop. The client's is what the evidence says of it
    (:attr:`Report.client_state`): not checked when none was given, never a pass by default."""
    by_step = {step.step: step.status for step in report.steps}
    states = {}
    for hop in HOPS:
        seen = [by_step[number] for number in hop.steps if number in by_step]
        if hop.key == "client":
            states[hop.key] = report.client_state
        elif not seen:
            states[hop.key] = "skipped"
        else:
            states[hop.key] = min(seen, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 0)
    root = report.root_cause
    # An unknown verdict has no root cause (DESIGN.md): nothing on the path is marked as the break.
    if root is not None and root.severity is not Severity.INFO and report.verdict not in ("ok", "unknown"):
        broken = next((hop.key for hop in HOPS if root.step in hop.steps), None)
        if broken is not None:
            states[broken] = "break"
    return states
