"""SD803 — Rules lead to endpoints that are not the Service's ready endpoints.

What it detects:
    The destinations a traced connection can be DNATed to (with their probabilities) differ from the
    Service's usable endpoints — *stale* (an address that is no longer an endpoint, e.g. a deleted
    Pod), *extra* (an endpoint that is not ready, or not local under a Local traffic policy) or
    *missing* (a ready endpoint no rule sends to).

    Also: connections meant for the endpoints that another rule of the node rejects or drops
    after kube-proxy's DNAT (a host firewall's ``-A INPUT -j REJECT --reject-with
    icmp-host-prohibited``, a FORWARD policy), with the rule that did it and what clients see (its
    ICMP type: "no route to host" for host-prohibited, "connection refused" for port-unreachable
    or a TCP reset, a timeout for a drop); and a share of connections no rule sends anywhere.
    Paths the dump cannot decide (lines not read) make the check unknown.

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
from svcdoctor.dataplane.analysis import PathResult, describe
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
from svcdoctor.dataplane.interface import client_sees
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding


def run(context: Context) -> Iterator[Finding]:
    results = node_paths(context)
    yield from conclude(list(_findings(context, results)), undecided_reasons(results))


def _findings(context: Context, results: list[NodePaths]) -> Iterator[Finding]:
    endpoints = service_endpoints(context.snapshot, context.target.namespace, context.target.name)
    known = {endpoint.address: endpoint for endpoint in endpoints}
    all_nodes = [result.dump.node for result in results]
    broken_nodes = [result.dump.node for result in results
                    if any(((path.stale or path.missing) and path.trace.destinations) or _lost(path)
                           for path in result.paths if decided(result, path))]
    for result in results:
        node = result.dump.node
        paths = [path for path in result.paths if decided(result, path)]
        for path in paths:
            yield from _blocked(context, result, path, broken_nodes, all_nodes)
        groups: dict[tuple[frozenset[tuple[str, int]], frozenset[tuple[str, int]]], list[str]] = {}
        for path in paths:
            if path.trace.destinations and (path.stale or path.missing):
                groups.setdefault((path.stale, path.missing), []).append(path.label)
        for path in paths:
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


def _lost(path: PathResult) -> float:
    """The share of connections meant for the endpoints that never get there (blocked, or sent nowhere)."""
    if path.expect != "endpoints" or not path.translated:
        return sum(share for share, _, _, _ in path.blocked())
    nowhere = sum(branch.probability for branch in path.trace.branches
                  if branch.destination is None and branch.verdict in ("", "ACCEPT"))
    return nowhere + sum(share for share, _, _, _ in path.blocked())


def _blocked(context: Context, result: NodePaths, path: PathResult, broken_nodes: list[str],
             all_nodes: list[str]) -> Iterator[Finding]:
    """Connections meant for the endpoints that another rule rejects or drops, or that no rule sends anywhere."""
    node = result.dump.node
    blocked = path.blocked()
    nowhere = _lost(path) - sum(share for share, _, _, _ in blocked)
    if not blocked and nowhere < 1e-9:
        return
    parts = []
    evidence = []
    for share, verdict, rule, destination in blocked:
        where = f"{rule.table} {rule.chain}" + (f", line {rule.line}" if rule and rule.line else "") if rule else "?"
        after = f" after kube-proxy sent it to {destination[0]}:{destination[1]}" if destination else ""
        if verdict == "REJECT":
            kind = rule.action[1] if rule is not None and rule.action[0] == "reject" and len(rule.action) > 1 else ""
            sees = client_sees(kind) or "an error"
            parts.append(f"{share:.0%} of connections are rejected{after} by `{rule.text if rule else '?'}` ({where}"
                         f"{', ' + kind if kind else ''}): clients there see '{sees}'")
        else:
            parts.append(f"{share:.0%} of connections are dropped{after} by `{rule.text if rule else '?'}` ({where}): "
                         "clients there time out")
        branch_rules = [item for branch in path.trace.branches
                        if branch.verdict == verdict and branch.rules and branch.rules[-1] is rule
                        for item in branch.rules]
        evidence.append(rule_evidence(node, branch_rules or ([rule] if rule else []),
                                      f"{path.label}: {verdict.lower()}ed by a rule that is not kube-proxy's "
                                      "\"has no endpoints\" reject"))
    if nowhere >= 1e-9:
        parts.append(f"{nowhere:.0%} of connections match no rule that sends them anywhere (they keep the Service "
                     "address, which no host owns)")
    share = _lost(path)
    impact = impact_for(context, broken_nodes, all_nodes, node) if share >= 0.999 else "degraded"
    yield CHECK.finding(
        f"On node {node}, {path.label} does not reach the Service's endpoints: " + "; ".join(parts) + ".",
        evidence=[*evidence, *unread_evidence(result)],
        next=inspect_commands(context, result.dataplane, path),
        fix=("Let the node's firewall pass the Service's traffic to its endpoints (a rule before the reject, or "
             "the Pod and Service networks in its trusted zone)" if blocked else
             "Restart kube-proxy on the node: its rules for this Service are incomplete."),
        subject=context.service_ref, node=node, key=f"{node}/{path.label}/blocked", impact=impact,
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
