"""SD802 — No kube-proxy rules for the ClusterIP:port.

What it detects:
    Tracing a new connection to ClusterIP:port through a node's recorded rules (iptables, nftables
    or IPVS) ends nowhere — no DNAT, no kube-proxy verdict for that address and port (in nftables
    mode, only the catch-all reject for unknown ports of a ClusterIP).

    A path whose trace met lines of the dump that could not be read or evaluated, or a dump
    without any kube-proxy rule, proves nothing: the check is then unknown and quotes those lines
    (never a pass, never a finding made of what was not read).

Why it matters:
    Without a rule the packet keeps its virtual destination, which no host owns: clients time out.

    The packet leaves the node still addressed to a virtual IP that nothing owns, so the client
    waits and times out. kube-proxy is not running there (SD801), is stuck, or the Service was
    created after it stopped syncing.

How to fix:
    Make kube-proxy run and sync on that node: read the logs of its kube-proxy Pod (kubectl logs -n
    kube-system POD) for sync errors, and restart it (delete the Pod) if it is stuck.

Example:
    The scenario fixtures/scenarios/cluster-ip-rules-missing: kube-proxy on node-a looks healthy but
    never programmed the payments Service; the checkout Pod there times out.

    $ cd fixtures/scenarios/cluster-ip-rules-missing
    $ svcdoctor check payments -n billing --from billing/checkout-pcb5v58jn-4fzrw --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.checking import (
    NodePaths,
    conclude,
    decided,
    impact_for,
    inspect_commands,
    node_paths,
    rule_evidence,
    undecided_reasons,
    unread_evidence,
)
from svcdoctor.findings import Evidence, Finding


def run(context: Context) -> Iterator[Finding]:
    results = node_paths(context)
    yield from conclude(list(_findings(context, results)), undecided_reasons(results, ("clusterIP",)))


def _findings(context: Context, results: list[NodePaths]) -> Iterator[Finding]:
    broken: dict[str, list[str]] = {}
    for result in results:
        for path in result.paths:
            if path.kind != "clusterIP" or not decided(result, path):
                continue
            # A DNAT is kube-proxy's answer, whatever later rules do with the packet (SD803).
            kube_proxy_verdict = path.specific_reject() is not None or path.translated
            if kube_proxy_verdict or (path.dropped and path.expect == "drop"):
                continue
            broken.setdefault(result.dump.node, []).append(path.label)
    all_nodes = [result.dump.node for result in results]
    for result in results:
        node = result.dump.node
        labels = broken.get(node)
        if not labels:
            continue
        paths = [path for path in result.paths if path.label in labels]
        evidence = [Evidence(context.service_ref, "spec.clusterIP", paths[0].address,
                             f"no rule on node {node} translates {', '.join(path.label for path in paths)}")]
        reason = (f"kube-proxy's {result.dataplane.mode or 'data-plane'} rules on this node "
                  f"({result.dataplane.rule_count} rules) have nothing for it")
        for path in paths:
            if path.trace.rules():
                evidence.append(rule_evidence(node, path.trace.rules(), f"what {path.label} meets instead"))
        yield CHECK.finding(
            f"On node {node}, connections to {', '.join(labels)} match no kube-proxy rule: {reason}. "
            "Clients there time out.",
            evidence=[*evidence, *unread_evidence(result)], next=inspect_commands(context, result.dataplane, paths[0]),
            subject=context.service_ref, node=node, key=node,
            impact=impact_for(context, list(broken), all_nodes, node),
        )


CHECK = Check(
    id="SD802",
    name="no-cluster-ip-rules",
    step=8,
    explains=frozenset({"SD903"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
)
