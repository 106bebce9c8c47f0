"""SD602 — NetworkPolicy denies the client's own egress to the Service's Pods.

Detects: the client Pod (``--from``) is selected by egress policies of its namespace and no rule of
any of them admits a connection to the backend Pods on the Pod port the Service port leads to —
even when the backends' ingress would admit it: a connection needs both sides. Why it matters:
default-deny-egress policies are often added to a namespace without an allowance for each
Service its Pods call; the client times out. Policies see the connection after the Service's
DNAT, so an ipBlock for the ClusterIP does not help — the finding says so when it sees one.
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.interface import EGRESS
from svcdoctor.netpol.service import denial_findings


def run(context: Context) -> Iterator[Finding]:
    yield from denial_findings(CHECK, context, EGRESS)


CHECK = Check(
    id="SD602",
    name="egress-denied-by-networkpolicy",
    step=6,
    title="NetworkPolicy denies the client's egress to the Pods",
    why="Egress policies that select the client drop every connection no rule admits, whatever the server allows.",
    fix="Add the backend Pods (namespace and labels) and their Pod port to an egress rule of a policy that "
        "selects the client.",
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
)
