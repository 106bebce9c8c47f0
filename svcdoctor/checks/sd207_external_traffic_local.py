"""SD207 — externalTrafficPolicy: Local, and nodes without a ready local endpoint.

What it detects:
    A NodePort or LoadBalancer Service (or one with externalIPs) with ``externalTrafficPolicy:
    Local``, and Ready nodes that run no ready endpoint of it.

Why it matters:
    With externalTrafficPolicy: Local a node forwards external traffic only to endpoints on itself;
    nodes without one drop it, so node-port clients of those nodes time out.

    With Local, kube-proxy sends external traffic only to endpoints on the node that received it and
    keeps the client's source IP; on a node without one it *drops* the traffic. Whoever connects to
    NodeIP:nodePort on those nodes times out. A cloud load balancer avoids them through the health
    check node port (that is the design, so for a LoadBalancer it is a note), but anything that
    sends to every node — a NodePort used directly, a hand-made external balancer — loses that
    share.

How to fix:
    Run a ready Pod on every node that receives external traffic, let the load balancer's health
    check steer traffic, or use externalTrafficPolicy: Cluster.

Example:
    The scenario fixtures/scenarios/nodeport-local-single-node: NodePort with externalTrafficPolicy
    Local; only node-a runs a Pod, node-b and node-c drop traffic.

    $ cd fixtures/scenarios/nodeport-local-single-node
    $ svcdoctor check haproxy -n ingress --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.ports import names_list, selector_text


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    service_type = k8s.service_type(service)
    spec = k8s.spec(service)
    if service_type not in ("NodePort", "LoadBalancer") and not k8s.as_list(spec.get("externalIPs")):
        raise Skip("no external exposure (not NodePort/LoadBalancer, no externalIPs)")
    if spec.get("externalTrafficPolicy") != "Local":
        raise Skip("externalTrafficPolicy is not Local")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    context.require_recorded("Node")
    context.require_recorded("EndpointSlice", "Endpoints", namespace=namespace)
    endpoints = service_endpoints(snapshot, namespace, name)
    with_endpoint = sorted({e.node for e in endpoints if e.ready and e.node})
    if not with_endpoint:
        raise Skip("no ready endpoint on any node: SD501/SD502 report that")
    ready_nodes = [k8s.name(n) for n in derived.ready_nodes(snapshot)]
    served = set(with_endpoint)
    lacking = [n for n in ready_nodes if n not in served]
    if not lacking:
        return
    node_ports = [str(p.get("nodePort")) for p in k8s.service_ports(service) if p.get("nodePort")]
    health_port = spec.get("healthCheckNodePort")
    evidence = [Evidence(context.service_ref, "spec.externalTrafficPolicy", "Local")]
    evidence += [Evidence(k8s.ObjectRef("Node", "", node), None, None, "Ready, but no ready endpoint of the Service "
                          "runs here") for node in lacking[:10]]
    evidence.append(Evidence(None, "nodes with a ready endpoint", with_endpoint))
    load_balancer_only = service_type == "LoadBalancer"
    where = (f"{len(lacking)} of {len(ready_nodes)} Ready nodes ({names_list(lacking)})")
    port_text = f"NodeIP:{'/'.join(node_ports)}" if node_ports else "the node port"
    if load_balancer_only:
        message = (f"Service {namespace}/{name} has externalTrafficPolicy: Local; {where} run no ready endpoint. "
                   "The cloud load balancer's health check"
                   + (f" (node port {health_port})" if health_port else "")
                   + f" takes those nodes out of rotation, which is how Local is meant to work, but {port_text} "
                   "on them drops traffic for anyone using the node port directly.")
    else:
        message = (f"Service {namespace}/{name} has externalTrafficPolicy: Local; {where} run no ready endpoint, "
                   f"so connections to {port_text} on those nodes are dropped (they time out). Only "
                   + (f"node {with_endpoint[0]} answers." if len(with_endpoint) == 1
                      else f"nodes {names_list(with_endpoint)} answer."))
    yield CHECK.finding(
        message,
        severity=Severity.INFO if load_balancer_only else Severity.WARNING,
        evidence=evidence,
        next=[f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} "
              "-o custom-columns=NODE:.endpoints[*].nodeName,READY:.endpoints[*].conditions.ready",
              "kubectl get nodes -o wide",
              f"kubectl get pods -n {namespace} -l {selector_text(service)} -o wide"
              if spec.get("selector") else f"kubectl describe service {name} -n {namespace}"],
        fix="Send external traffic only to nodes that run a ready Pod (a load balancer with the health check node "
            "port does this), run a Pod on every node (a DaemonSet, or more replicas spread across nodes), or set "
            "externalTrafficPolicy: Cluster if the client source IP need not be preserved.",
        subject=context.service_ref, subject_field="spec.externalTrafficPolicy",
    )


CHECK = Check(
    id="SD207",
    name="external-local-no-endpoint",
    step=2,
    explains=frozenset({"SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices", "nodes"),
    runtime=True,
    impact="degraded",
    confidence="likely",
)
