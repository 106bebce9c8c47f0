"""SD601 — NetworkPolicy denies this client's traffic into the Pods.

What it detects:
    For the client given with ``--from`` / ``--from-ip`` / ``--from-node``, the Service's backend
    Pods are selected by ingress policies and no rule of any of them admits the client on the Pod
    port the Service port leads to.

Why it matters:
    Policies that select the backend Pods drop every connection no rule admits: the client sees a
    timeout.

    The packets are dropped silently, so the user sees a timeout — indistinguishable from a dead Pod
    unless someone reads every policy. The finding names the policies, says for each rule which peer
    or port did not match, and gives the smallest change (a YAML snippet) that would admit the
    client.

How to fix:
    Add the client (its Pod labels and namespace, or its address as an ipBlock) and the Pod port to
    an ingress rule of a policy that selects the backend Pods.

Example:
    The scenario fixtures/scenarios/netpol-and-or-pitfall: The ingress rule of
    backend-allow-frontend has namespaceSelector and podSelector in ONE peer (AND: app=frontend Pods
    in team=web namespaces); the author meant two peers (OR). The frontend in namespace shop (no
    team label) is denied.

    $ cd fixtures/scenarios/netpol-and-or-pitfall
    $ svcdoctor check backend -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.interface import INGRESS
from svcdoctor.netpol.service import denial_findings


def run(context: Context) -> Iterator[Finding]:
    yield from denial_findings(CHECK, context, INGRESS)


CHECK = Check(
    id="SD601",
    name="ingress-denied-by-networkpolicy",
    step=6,
    # A client that policy denies sees its probes to the Pods (or the node ports) time out.
    explains=frozenset({"SD902", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
