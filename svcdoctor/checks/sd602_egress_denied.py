"""SD602 — NetworkPolicy denies the client's egress to the Pods.

What it detects:
    The client Pod (``--from``) is selected by egress policies of its namespace and no rule of any
    of them admits a connection to the backend Pods on the Pod port the Service port leads to — even
    when the backends' ingress would admit it: a connection needs both sides.

Why it matters:
    Egress policies that select the client drop every connection no rule admits, whatever the server
    allows.

    Default-deny-egress policies are often added to a namespace without an allowance for each
    Service its Pods call; the client times out. Policies see the connection after the Service's
    DNAT, so an ipBlock for the ClusterIP does not help — the finding says so when it sees one.

How to fix:
    Add the backend Pods (namespace and labels) and their Pod port to an egress rule of a policy
    that selects the client.

Example:
    The scenario fixtures/scenarios/netpol-client-egress-denied: checkout-egress lets the checkout
    Pods reach payments, DNS, and the Service CIDR — but policies see the connection after the DNAT,
    at the backend Pods' addresses, which no rule admits. The backend itself has no ingress policy:
    it is the client's egress that denies.

    $ cd fixtures/scenarios/netpol-client-egress-denied
    $ svcdoctor check backend -n shop --from shop/checkout-5plct4kdj-m2n4z --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.interface import EGRESS
from svcdoctor.netpol.service import denial_findings


def run(context: Context) -> Iterator[Finding]:
    yield from denial_findings(CHECK, context, EGRESS)


CHECK = Check(
    id="SD602",
    name="egress-denied-by-networkpolicy",
    step=6,
    # A client that policy denies sees its probes to the Pods (or the node ports) time out.
    explains=frozenset({"SD902", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
