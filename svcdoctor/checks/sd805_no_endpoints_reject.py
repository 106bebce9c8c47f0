"""SD805 — kube-proxy rejects the Service: "has no endpoints".

What it detects:
    A traced connection to the Service is rejected by the rule kube-proxy installs for a Service
    port without usable endpoints (iptables: ``REJECT`` in KUBE-SERVICES / KUBE-EXTERNAL-SERVICES
    with the comment "… has no endpoints"; nftables: an element of the ``no-endpoint-services`` /
    ``no-endpoint-nodeports`` verdict maps). Told apart from a catch-all reject by what the rule
    matches (this exact address and port), not by its name.

    Only the rule that rejected the packet counts: a host firewall's catch-all reject met after
    kube-proxy's DNAT is not this one (SD803 reports it).

Why it matters:
    kube-proxy answers connections to a Service without usable endpoints with a reject, so clients
    see 'connection refused' instead of waiting.

    It explains the instant "connection refused" clients get. When the Service has ready endpoints
    the rule is stale: kube-proxy on that node stopped syncing.

How to fix:
    Give the Service ready endpoints; if it has them, restart kube-proxy on the node.

Example:
    The scenario fixtures/scenarios/no-endpoints-refused: No orders Pod is ready; kube-proxy's "has
    no endpoints" REJECT rule is why clients see "connection refused".

    $ cd fixtures/scenarios/no-endpoints-refused
    $ svcdoctor check orders -n orders --snapshot snapshot.yaml
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
from svcdoctor.dataplane.interface import Rule, client_sees
from svcdoctor.findings import Finding


def run(context: Context) -> Iterator[Finding]:
    results = node_paths(context)
    yield from conclude(list(_findings(context, results)), undecided_reasons(results))


def _sees(rule: Rule | None) -> str:
    """What clients see from the reject that ``rule`` (the reject, or the map look-up leading to it) makes."""
    if rule is None or rule.action[0] != "reject" or len(rule.action) < 2:
        return ""
    return client_sees(rule.action[1])


def _findings(context: Context, results: list[NodePaths]) -> Iterator[Finding]:
    all_nodes = [result.dump.node for result in results]
    rejecting = [result.dump.node for result in results
                 if any(path.specific_reject() is not None for path in result.paths
                        if path.kind == "clusterIP" and decided(result, path))]
    for result in results:
        node = result.dump.node
        rejected = [(path, path.specific_reject()) for path in result.paths if decided(result, path)]
        rejected = [(path, rule) for path, rule in rejected if rule is not None]
        if not rejected:
            continue
        labels = ", ".join(path.label for path, _ in rejected)
        stale = [path for path, _ in rejected if path.expect == "endpoints"]
        stale_rule = next((rule for path, rule in rejected if path.expect == "endpoints"), rejected[0][1])
        evidence = [rule_evidence(node, [rule], f"rejects {path.label}") for path, rule in rejected[:6]]
        if stale:
            message = (f"On node {node}, kube-proxy rejects {labels} as if the Service had no endpoints, yet it has "
                       f"ready endpoints ({', '.join(f'{ip}:{port}' for ip, port in sorted(stale[0].expected))}): "
                       "the reject rule is stale, kube-proxy there is not syncing. Clients see "
                       f"'{_sees(stale_rule) or 'connection refused'}'.")
            fix = "Restart kube-proxy on the node and read its logs: it should replace the reject with DNAT rules."
        else:
            message = (f"On node {node}, kube-proxy rejects {labels} because the Service has no usable endpoints: "
                       "this is why clients see 'connection refused' at once rather than a timeout.")
            fix = "Give the Service ready endpoints (see the endpoint findings); the reject rule then goes away."
        impact = impact_for(context, rejecting, all_nodes, node) if any(
            path.kind == "clusterIP" for path, _ in rejected) else "degraded"
        yield CHECK.finding(
            message, evidence=[*evidence, *unread_evidence(result)],
            next=inspect_commands(context, result.dataplane, rejected[0][0]),
            fix=fix, subject=context.service_ref, node=node, key=node, impact=impact,
        )


CHECK = Check(
    id="SD805",
    name="no-endpoints-reject",
    step=8,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
)
