"""SD208 — internalTrafficPolicy: Local, and client nodes without a local endpoint.

What it detects:
    A Service with ``internalTrafficPolicy: Local`` and nodes — above all the client's node — that
    run no ready endpoint of it.

Why it matters:
    With internalTrafficPolicy: Local a client reaches only endpoints on its own node; on a node
    without one, its traffic to the Service is dropped.

    With Local, kube-proxy sends traffic to the ClusterIP only to endpoints on the client's own node
    and drops it when there are none; it never falls back to other nodes. A client on such a node
    cannot reach the Service at all (an error for that client); without a client, every node that
    lacks an endpoint is a place where Pods cannot reach it (a warning that lists them). Usual
    cause: Local was meant for a per-node DaemonSet, but the backend is a Deployment that does not
    run everywhere.

How to fix:
    Run a ready backend Pod on every node whose Pods use the Service (a DaemonSet is what Local is
    meant for), or set internalTrafficPolicy: Cluster so that any node's endpoint may answer.

Example:
    The scenario fixtures/scenarios/internal-traffic-local-client-elsewhere: internalTrafficPolicy
    Local; the client Pod runs on node-b, the only cache Pod on node-a.

    $ cd fixtures/scenarios/internal-traffic-local-client-elsewhere
    $ svcdoctor check memcached -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.ports import names_list


def _client_node(context: Context) -> tuple[str, str]:
    """(node name, how the client is named) for a Pod or node client; ("", "") otherwise."""
    client = context.client
    if client is None:
        return "", ""
    if client.kind == "node":
        return client.name, f"node {client.name}"
    if client.kind == "pod":
        node = str(k8s.spec(context.require_client_pod() or {}).get("nodeName") or "")
        return node, f"client Pod {client}"
    return "", ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no traffic policy")
    if k8s.spec(service).get("internalTrafficPolicy") != "Local":
        raise Skip("internalTrafficPolicy is not Local")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    context.require_recorded("EndpointSlice", "Endpoints", namespace=namespace)
    endpoints = service_endpoints(snapshot, namespace, name)
    with_endpoint = sorted({e.node for e in endpoints if e.ready and e.node})
    policy = Evidence(context.service_ref, "spec.internalTrafficPolicy", "Local")
    next_commands = [
        f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} "
        "-o custom-columns=NODE:.endpoints[*].nodeName,READY:.endpoints[*].conditions.ready",
        "kubectl get nodes",
    ]
    if not with_endpoint:
        raise Skip("no ready endpoint on any node: SD501/SD502 report that")
    client_node, client_text = _client_node(context)
    if client_node:
        if client_node in with_endpoint:
            return
        yield CHECK.finding(
            f"Service {namespace}/{name} has internalTrafficPolicy: Local, and {client_text} runs on node "
            f"{client_node}, where no ready endpoint of the Service runs: kube-proxy there drops its traffic to "
            f"the Service instead of sending it to another node. "
            + (f"Only node {with_endpoint[0]} has one." if len(with_endpoint) == 1
               else f"Only nodes {names_list(with_endpoint)} have one."),
            evidence=[policy, Evidence(k8s.ObjectRef("Node", "", client_node), None, None,
                                       "the client's node; no ready local endpoint"),
                      Evidence(None, "nodes with a ready endpoint", with_endpoint)],
            next=[*next_commands, f"kubectl get pods -A -o wide --field-selector spec.nodeName={client_node}"],
            fix=CHECK.fix, subject=context.service_ref, subject_field="spec.internalTrafficPolicy", node=client_node,
        )
        return
    context.require_recorded("Node")
    ready_nodes = [k8s.name(n) for n in derived.ready_nodes(snapshot)]
    served = set(with_endpoint)
    lacking = [n for n in ready_nodes if n not in served]
    if not lacking:
        return
    evidence = [policy]
    evidence += [Evidence(k8s.ObjectRef("Node", "", node), None, None, "no ready local endpoint")
                 for node in lacking[:10]]
    yield CHECK.finding(
        f"Service {namespace}/{name} has internalTrafficPolicy: Local, and {len(lacking)} of {len(ready_nodes)} "
        f"Ready nodes run no ready endpoint of it ({names_list(lacking)}): Pods on those nodes cannot reach the "
        "Service at all — kube-proxy drops their traffic rather than use another node's endpoint. "
        "Name a client with --from to see whether it is affected.",
        severity=Severity.WARNING,
        evidence=evidence,
        next=next_commands,
        fix=CHECK.fix, subject=context.service_ref, subject_field="spec.internalTrafficPolicy",
    )


CHECK = Check(
    id="SD208",
    name="internal-local-no-endpoint",
    step=2,
    explains=frozenset({"SD903"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
    confidence="likely",
)
