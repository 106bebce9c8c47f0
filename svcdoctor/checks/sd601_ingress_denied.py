"""SD601 — NetworkPolicy denies the client's connection into the Service's Pods (ingress).

Detects: for the client given with ``--from`` / ``--from-ip`` / ``--from-node``, the Service's
backend Pods are selected by ingress policies and no rule of any of them admits the client on the
Pod port the Service port leads to. Why it matters: the packets are dropped silently, so the user
sees a timeout — indistinguishable from a dead Pod unless someone reads every policy. The finding
names the policies, says for each rule which peer or port did not match, and gives the smallest
change (a YAML snippet) that would admit the client.
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Finding
from svcdoctor.netpol.interface import INGRESS
from svcdoctor.netpol.service import denial_findings


def run(context: Context) -> Iterator[Finding]:
    yield from denial_findings(CHECK, context, INGRESS)


CHECK = Check(
    id="SD601",
    name="ingress-denied-by-networkpolicy",
    step=6,
    title="NetworkPolicy denies this client's traffic into the Pods",
    why="Policies that select the backend Pods drop every connection no rule admits: the client sees a timeout.",
    fix="Add the client (its Pod labels and namespace, or its address as an ipBlock) and the Pod port to an "
        "ingress rule of a policy that selects the backend Pods.",
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
)
