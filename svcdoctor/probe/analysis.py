"""Reading recorded ProbeResults: which belong to a Service, and whether the cluster was visible at all.

Pure functions over the Snapshot, shared by the step-7 and step-9 checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.findings import Skip
from svcdoctor.snapshot import ProbeResult, Snapshot

#: What a probe was aimed at (``ProbeResult.target``).
POD, CLUSTER_IP, NODE_PORT, LOAD_BALANCER, DNS_SERVICE, DNS_POD = (
    "pod", "clusterIP", "nodePort", "loadBalancer", "dns", "dnsPod")
#: Addresses inside the cluster network (not node or load-balancer addresses).
INTERNAL = (POD, CLUSTER_IP, DNS_SERVICE, DNS_POD)
#: Probes whose only purpose is to show whether cluster addresses are reachable at all.
CONTROLS = (DNS_SERVICE, DNS_POD)
ANSWERED = ("open", "refused")


def object_name(target_object: str) -> tuple[str, str, str]:
    """``"Pod shop/web-1"`` → ("Pod", "shop", "web-1"); ``"Node node-a"`` → ("Node", "", "node-a")."""
    kind, _, rest = target_object.partition(" ")
    if "/" in rest:
        namespace, _, name = rest.partition("/")
        return kind, namespace, name
    return kind, "", rest


def probes_of_service(snapshot: Snapshot, namespace: str, name: str) -> list[ProbeResult]:
    """The probes aimed at this Service: its ClusterIP, NodePorts, load balancer, and its Pods.

    A Pod probe belongs to the Service when its ``target_object`` names a Pod the Service's
    endpoints list, or (when no object is named) when its address is one of those endpoints.
    """
    from svcdoctor.endpoints import service_endpoints

    service_label = f"Service {namespace}/{name}"
    endpoint_pods = set()
    endpoint_addresses = set()
    for endpoint in service_endpoints(snapshot, namespace, name):
        endpoint_addresses.add(endpoint.address)
        if endpoint.target is not None:
            endpoint_pods.add(f"Pod {endpoint.target.namespace}/{endpoint.target.name}")
    result = []
    for probe in snapshot.probe_results:
        if probe.target == POD:
            if probe.target_object in endpoint_pods or (not probe.target_object and probe.ip in endpoint_addresses):
                result.append(probe)
        elif probe.target in (CLUSTER_IP, NODE_PORT, LOAD_BALANCER) and (
                probe.target_object == service_label or probe.target_object.startswith(service_label + " ")):
            result.append(probe)
    return result


@dataclass(frozen=True)
class Visibility:
    """Whether the probes saw the cluster network from where they were sent."""

    #: True when every probe to a cluster-internal address (the DNS Service and its Pods among
    #: them) went unanswered alike: the place they were sent from has no route into the cluster.
    blind: bool
    internal: tuple[ProbeResult, ...]
    sources: tuple[str, ...]


def visibility(snapshot: Snapshot) -> Visibility:
    """Whether cluster addresses answered anything at all (see :class:`Visibility`)."""
    internal = tuple(p for p in snapshot.probe_results if p.target in INTERNAL)
    sources = tuple(dict.fromkeys(p.source for p in snapshot.probe_results if p.source))
    has_control = any(p.target in CONTROLS for p in internal)
    blind = has_control and bool(internal) and all(p.result not in ANSWERED for p in internal)
    return Visibility(blind, internal, sources)


def where_sent_from(snapshot: Snapshot, sources: Sequence[str]) -> str:
    """Where probes were sent from, in words, with the node when the snapshot tells."""
    if not sources:
        return "a place the snapshot does not record"
    return "; ".join(describe_source(snapshot, source) for source in sources)


def describe_source(snapshot: Snapshot, source: str) -> str:
    node = node_of_source(snapshot, source)
    if source.startswith("node/"):
        return f"node {source[5:]}"
    if " on node " in source:
        return f"Pod {source}"
    if "/" in source:
        return f"Pod {source}" + (f" on node {node}" if node else "")
    if node:
        return f"{source} (node {node})"
    return f"{source} (not an address of a Pod or Node in the snapshot)"


def node_of_source(snapshot: Snapshot, source: str) -> str:
    """The node whose kube-proxy handled probes from ``source`` ("" when unknown).

    ``node/NAME`` → NAME; ``NS/POD`` → the Pod's node; an address → the Pod or Node that has it.
    """
    if source.startswith("node/"):
        return source[5:]
    if " on node " in source:
        return source.rsplit(" on node ", 1)[1].strip()
    if "/" in source:
        namespace, _, name = source.partition("/")
        pod = snapshot.pod(namespace, name)
        return str(k8s.spec(pod).get("nodeName") or "") if pod is not None else ""
    address = source.split(" ", 1)[0]
    for pod in snapshot.pods_with_ip(address):
        return str(k8s.spec(pod).get("nodeName") or "")
    for node in snapshot.nodes:
        for item in k8s.as_list(k8s.status(node).get("addresses")):
            if isinstance(item, dict) and item.get("address") == address:
                return k8s.name(node)
    return ""


def service_probes_or_skip(snapshot: Snapshot, namespace: str, name: str) -> list[ProbeResult]:
    """The Service's probes; raises Skip when there are none or when the probes could not see the cluster."""
    if not snapshot.probe_results:
        raise Skip("no probes: run with --probe, or record ProbeResult objects in the snapshot")
    if visibility(snapshot).blind:
        raise Skip("the probes could not reach any cluster address from where they were sent (SD905)")
    probes = probes_of_service(snapshot, namespace, name)
    if not probes:
        raise Skip("no probe was aimed at this Service or its Pods")
    return probes


def probe_evidence(probe: ProbeResult) -> dict[str, object]:
    """A probe as evidence: where to, what came back, from where."""
    value: dict[str, object] = {"to": f"{probe.ip}:{probe.port}/{probe.protocol}", "result": probe.result}
    if probe.source:
        value["from"] = probe.source
    if probe.seconds is not None:
        value["seconds"] = round(probe.seconds, 3)
    return value
