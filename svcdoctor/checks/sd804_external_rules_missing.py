"""SD804 — NodePort / external rules missing.

What it detects:
    A new connection to NodePort (on each of the node's addresses), to an externalIP or to a
    load-balancer ingress IP, traced through the node's rules, meets no kube-proxy rule at all — no
    DNAT, and not the drop kube-proxy installs on purpose for ``externalTrafficPolicy: Local``
    without a local endpoint (SD207 explains that one).

    Paths the dump cannot decide (lines not read) make the check unknown.

Why it matters:
    Without them, traffic from outside reaches the node but is never forwarded: it is refused or
    times out while the ClusterIP works.

    Outside clients (and load balancer health checks) reach the node but nothing forwards them; they
    are refused or time out while the ClusterIP works.

How to fix:
    Check kube-proxy on the node (and --nodeport-addresses, which limits the addresses NodePorts
    listen on).

Example:
    The scenario fixtures/scenarios/nodeport-rules-missing: node-b's kube-proxy (nftables mode) has
    the ClusterIP rules of web/site but no NodePort rule; the NodePort fails on node-b only.

    $ svcdoctor check site -n web --snapshot fixtures/scenarios/nodeport-rules-missing/snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.checking import (
    NodePaths,
    conclude,
    decided,
    inspect_commands,
    node_paths,
    undecided_reasons,
    unread_evidence,
)
from svcdoctor.findings import Evidence, Finding


def run(context: Context) -> Iterator[Finding]:
    results = node_paths(context)
    yield from conclude(list(_findings(context, results)),
                        undecided_reasons(results, ("nodePort", "externalIP", "loadBalancer")))


def _findings(context: Context, results: list[NodePaths]) -> Iterator[Finding]:
    for result in results:
        node = result.dump.node
        missing = [path for path in result.paths if path.kind != "clusterIP" and decided(result, path)
                   and path.untouched and path.specific_reject() is None]
        if not missing:
            continue
        labels = ", ".join(path.label for path in missing)
        intended = {path.expect for path in missing}
        severity = "error" if "endpoints" in intended else "warning"
        evidence = [Evidence(context.service_ref, _field(path.kind), path.address if path.kind != "nodePort"
                             else path.port, f"no kube-proxy rule on node {node} for {path.label}")
                    for path in missing[:8]]
        yield CHECK.finding(
            f"On node {node}, kube-proxy has no rule for {labels}: traffic from outside the cluster to "
            f"{'it' if len(missing) == 1 else 'them'} is not forwarded to the Service (the ClusterIP may still work).",
            evidence=[*evidence, *unread_evidence(result)],
            next=inspect_commands(context, result.dataplane, missing[0]),
            subject=context.service_ref, node=node, key=node, severity=severity, impact="degraded",
        )
    if not any(result.addresses for result in results) and any(
            port.get("nodePort") for port in context.require_service().get("spec", {}).get("ports", [])
            if isinstance(port, dict)):
        context.caveats.append(("no Node object (with status.addresses) for the dumped node(s): NodePorts were not "
                                "traced", "record the Nodes: kubectl get nodes -o yaml"))
        yield CHECK.finding(
            "NodePorts were not traced: the snapshot has no Node object (with status.addresses) for the dumped "
            "node(s), so the node's addresses are unknown.",
            severity="info", subject=context.service_ref, key="no-node-addresses",
            next=["kubectl get nodes -o wide"],
        )


def _field(kind: str) -> str:
    return {"nodePort": "spec.ports[].nodePort", "externalIP": "spec.externalIPs",
            "loadBalancer": "status.loadBalancer.ingress"}.get(kind, "spec")


CHECK = Check(
    id="SD804",
    name="external-rules-missing",
    step=8,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
    impact="degraded",
)
