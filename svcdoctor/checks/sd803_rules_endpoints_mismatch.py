"""SD803 — Rules lead to endpoints that are not the Service's ready endpoints.

What it detects:
    The destinations a traced connection can be DNATed to (with their probabilities) differ from the
    Service's usable endpoints — *stale* (an address that is no longer an endpoint, e.g. a deleted
    Pod), *extra* (an endpoint that is not ready, or not local under a Local traffic policy) or
    *missing* (a ready endpoint no rule sends to).

Why it matters:
    Connections sent to a stale address hang or are refused; missing endpoints get no traffic.
    kube-proxy on that node is not keeping up with the EndpointSlices.

    The share of new connections that goes to a stale address hangs or is refused, so the Service
    fails intermittently; missing endpoints take no load. kube-proxy on that node has stopped
    syncing.

How to fix:
    Check kube-proxy's logs on the node and restart it; it rewrites the rules from the current
    EndpointSlices.

Example:
    The scenario fixtures/scenarios/ipvs-stale-real-server: IPVS mode; node-a still balances a third
    of search's connections to a deleted Pod's address.

    $ cd fixtures/scenarios/ipvs-stale-real-server
    $ svcdoctor check search -n search --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.analysis import describe
from svcdoctor.dataplane.checking import impact_for, inspect_commands, node_paths, rule_evidence, unread_evidence
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding


def run(context: Context) -> Iterator[Finding]:
    results = node_paths(context)
    endpoints = service_endpoints(context.snapshot, context.target.namespace, context.target.name)
    known = {endpoint.address: endpoint for endpoint in endpoints}
    all_nodes = [result.dump.node for result in results]
    broken_nodes = [result.dump.node for result in results
                    if any(path.stale or path.missing for path in result.paths if path.trace.destinations)]
    for result in results:
        node = result.dump.node
        groups: dict[tuple[frozenset[tuple[str, int]], frozenset[tuple[str, int]]], list[str]] = {}
        for path in result.paths:
            if path.trace.destinations and (path.stale or path.missing):
                groups.setdefault((path.stale, path.missing), []).append(path.label)
        for path in result.paths:
            labels = groups.pop((path.stale, path.missing), None) if path.trace.destinations else None
            if not labels:
                continue
            share = sum(probability for destination, probability in path.trace.destinations.items()
                        if destination in path.stale)
            parts = []
            evidence = []
            for ip, port in sorted(path.stale):
                endpoint = known.get(ip)
                if endpoint is None:
                    what = "not an endpoint of the Service (stale: the Pod is gone or was replaced)"
                elif not endpoint.ready:
                    what = "an endpoint that is not ready (extra)"
                elif path.expect == "drop" or (endpoint.node and endpoint.node != node):
                    what = f"an endpoint on node {endpoint.node or '?'}, not local under a Local traffic policy (extra)"
                else:
                    what = "not the port the endpoint serves (stale)"
                parts.append(f"{ip}:{port} is {what}")
                rules = [rule for branch in path.trace.branches if branch.destination == (ip, port)
                         for rule in branch.rules]
                evidence.append(rule_evidence(node, rules, f"{path.label} → {ip}:{port}: {what}"))
            if path.missing:
                parts.append(f"no rule sends to the ready endpoint(s) {', '.join(describe(path.missing))}")
                evidence.append(Evidence(context.service_ref, "endpoints", describe(path.expected),
                                         "the usable endpoints of this port, from the EndpointSlices"))
            message = (f"On node {node}, kube-proxy's rules for {', '.join(labels)} do not match the Service's "
                       "endpoints: " + "; ".join(parts) + ".")
            if share:
                message += f" About {share:.0%} of new connections there go to an address that is not a ready endpoint."
            impact = "degraded"
            if share >= 0.999:
                impact = impact_for(context, broken_nodes, all_nodes, node)
            yield CHECK.finding(
                message, evidence=[*evidence, *unread_evidence(result)],
                next=inspect_commands(context, result.dataplane, path),
                subject=context.service_ref, node=node, key=f"{node}/{path.label}",
                severity="error" if share else "warning", impact=impact,
            )


CHECK = Check(
    id="SD803",
    name="rules-endpoints-mismatch",
    step=8,
    explains=frozenset({"SD903"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
