"""Reading recorded ProbeResults: which belong to a Service, and whether the cluster was visible at all.

Pure functions over the Snapshot, shared by the step-7 and step-9 checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from svcdoctor import k8s
from svcdoctor.findings import NotChecked, Skip
from svcdoctor.snapshot import DNSAnswer, ProbeResult, Snapshot

#: What a probe was aimed at (``ProbeResult.target``).
POD, CLUSTER_IP, NODE_PORT, LOAD_BALANCER, DNS_SERVICE, DNS_POD = (
    "pod", "clusterIP", "nodePort", "loadBalancer", "dns", "dnsPod")
#: Addresses inside the cluster network (not node or load-balancer addresses).
INTERNAL = (POD, CLUSTER_IP, DNS_SERVICE, DNS_POD)
#: Probes whose only purpose is to show whether cluster addresses are reachable at all.
CONTROLS = (DNS_SERVICE, DNS_POD)
ANSWERED = ("open", "refused")
#: How to give step 9 its evidence.
PROBE_HOW = "run with --probe, or record ProbeResult objects in the snapshot"
#: How to ask DNS (and probe) where the answers are the cluster's.
INSIDE_HOW = ("ask from inside the cluster: svcdoctor check --probe from a node, a debugging Pod or the in-cluster "
              "Job (deploy/job.yaml)")


def object_name(target_object: str) -> tuple[str, str, str]:
    """``"Pod shop/web-1"`` → ("Pod", "shop", "web-1"); ``"Node node-a"`` → ("Node", "", "node-a")."""
    kind, _, rest = target_object.partition(" ")
    if "/" in rest:
        namespace, _, name = rest.partition("/")
        return kind, namespace, name
    return kind, "", rest


#: (address, port, protocol) → (kind, object) for the Service addresses of a snapshot; address → the same
#: for Pod IPs. Built once per Snapshot, on first use.
_AddressIndex = tuple[dict[tuple[str, int, str], tuple[str, str]], dict[str, tuple[str, str]]]


def _address_index(snapshot: Snapshot) -> _AddressIndex:
    from svcdoctor.dns.cluster_dns import dns_pods, dns_services
    from svcdoctor.dns.records import cluster_ips

    dns = {id(service) for service in dns_services(snapshot)}
    by_port: dict[tuple[str, int, str], tuple[str, str]] = {}
    node_ips = {k8s.name(node): _node_ips(node) for node in snapshot.nodes}
    for service in snapshot.services:
        label = f"Service {k8s.namespace(service)}/{k8s.name(service)}"
        kind = DNS_SERVICE if id(service) in dns else CLUSTER_IP
        ports = k8s.service_ports(service)
        spec = k8s.spec(service)
        external = [str(k8s.as_map(item).get("ip") or "") for item in
                    k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer")).get("ingress"))]
        external += [str(ip) for ip in k8s.as_list(spec.get("externalIPs"))]
        for port in ports:
            number, protocol = _number(port.get("port")), k8s.port_protocol(port).upper()
            for ip in [] if k8s.is_headless(service) else cluster_ips(service):
                by_port.setdefault((ip, number, protocol), (kind, label))
            for ip in filter(None, external):
                by_port.setdefault((ip, number, protocol), (LOAD_BALANCER, f"{label} via LoadBalancer {ip}"))
            node_port = _number(port.get("nodePort"))
            if node_port:
                for node, ips in node_ips.items():
                    for ip in ips:
                        by_port.setdefault((ip, node_port, protocol), (NODE_PORT, f"{label} via Node {node}"))
    dns_pod_names = {(k8s.namespace(pod), k8s.name(pod)) for pod in dns_pods(snapshot)}
    by_ip: dict[str, tuple[str, str]] = {}
    for pod in snapshot.pods:
        key = (k8s.namespace(pod), k8s.name(pod))
        if k8s.spec(pod).get("hostNetwork"):
            continue  # its address is its node's: a probe there is not a probe of this Pod alone
        for ip in k8s.pod_ips(pod):
            by_ip.setdefault(ip, (DNS_POD if key in dns_pod_names else POD, f"Pod {key[0]}/{key[1]}"))
    return by_port, by_ip


def _number(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _node_ips(node: k8s.Obj) -> list[str]:
    return [str(item.get("address")) for item in k8s.as_list(k8s.status(node).get("addresses"))
            if isinstance(item, dict) and item.get("type") in ("InternalIP", "ExternalIP") and item.get("address")]


def classify(snapshot: Snapshot, probe: ProbeResult) -> tuple[str, str]:
    """What ``probe`` went to — (kind, object) — worked out from the snapshot, never from the producer.

    A Service address (ClusterIP, NodePort on a node address, load-balancer or external IP) on one of
    its ports, else a Pod IP; ("", "") when the snapshot holds nothing at that address.
    """
    by_port, by_ip = snapshot.memo("probe-address-index", _address_index)
    found = by_port.get((probe.ip, probe.port, probe.protocol.upper()))
    if found is None:
        found = by_ip.get(probe.ip)
    return found or ("", "")


def classified(snapshot: Snapshot) -> tuple[ProbeResult, ...]:
    """Every recorded probe with ``target`` and ``target_object`` set from the snapshot (see :func:`classify`).

    A ProbeResult written as DESIGN.md shows it (``to: {ip, port, protocol}``) counts as fully as one
    ``--probe`` wrote; a ``kind`` the producer added is not trusted.
    """
    return snapshot.memo("probes-classified", lambda snap: tuple(
        replace(probe, target=kind, target_object=label)
        for probe in snap.probe_results for kind, label in [classify(snap, probe)]))


def unmatched(snapshot: Snapshot) -> list[ProbeResult]:
    """The probes whose address is nothing the snapshot holds."""
    return [probe for probe in classified(snapshot) if not probe.target]


def probes_of_service(snapshot: Snapshot, namespace: str, name: str) -> list[ProbeResult]:
    """The probes aimed at this Service: its ClusterIP, NodePorts, load balancer, and its Pods.

    A Pod probe belongs to the Service when the Pod at its address is one the Service's endpoints
    list, or when its address is one of those endpoints.
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
    for probe in classified(snapshot):
        if probe.target == CLUSTER_IP and outside_cluster(snapshot, probe.source):
            continue  # a ClusterIP exists only inside the cluster: from outside, another network answers
        if probe.target == POD:
            if probe.target_object in endpoint_pods or probe.ip in endpoint_addresses:
                result.append(probe)
        elif probe.target in (CLUSTER_IP, NODE_PORT, LOAD_BALANCER) and (
                probe.target_object == service_label or probe.target_object.startswith(service_label + " ")):
            result.append(probe)
    return result


@dataclass(frozen=True)
class Visibility:
    """Whether the probes saw the cluster network from where they were sent."""

    #: True when every probe to a cluster-internal address (the DNS Service and its Pods among
    #: them) went unanswered alike — a ClusterIP that answered a place outside the cluster counts as
    #: unanswered, since another network answered it: the place they were sent from has no route
    #: into the cluster.
    blind: bool
    internal: tuple[ProbeResult, ...]
    sources: tuple[str, ...]


def visibility(snapshot: Snapshot) -> Visibility:
    """Whether cluster addresses answered anything at all (see :class:`Visibility`)."""
    internal = tuple(p for p in classified(snapshot) if p.target in INTERNAL)
    sources = tuple(dict.fromkeys(p.source for p in snapshot.probe_results if p.source))
    has_control = any(p.target in CONTROLS for p in internal)
    # A ClusterIP that "answers" a place outside the cluster is another network answering: it shows
    # nothing of the cluster, so it does not count as seen.
    seen = [p for p in internal if p.result in ANSWERED
            and not (p.target in (CLUSTER_IP, DNS_SERVICE) and outside_cluster(snapshot, p.source))]
    blind = has_control and bool(internal) and not seen
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


def outside_cluster(snapshot: Snapshot, source: str) -> bool:
    """Whether ``source`` — where probes or DNS questions were sent from — is known to be outside the
    cluster: neither a Pod nor a Node of the snapshot (a laptop, a CI runner). An unrecorded source ("")
    is not known to be: such evidence counts fully (DESIGN.md)."""
    if not source:
        return False
    first = source.split(" ", 1)[0]
    if source.startswith("node/") or "/" in first or snapshot.node(first) is not None:
        return False
    return not node_of_source(snapshot, source) and not snapshot.pods_with_ip(first)


def cluster_dns_addresses(snapshot: Snapshot) -> set[str]:
    """Where a cluster DNS answer can come from: the DNS Service's ClusterIPs, its Pods, the node-local cache."""
    from svcdoctor.dns.cluster_dns import dns_pods, dns_service_ips
    from svcdoctor.dns.nodelocal import local_address, node_local_daemon_set, node_local_pods

    addresses = set(dns_service_ips(snapshot))
    addresses.update(ip for pod in dns_pods(snapshot) for ip in k8s.pod_ips(pod))
    if node_local_daemon_set(snapshot) is not None or node_local_pods(snapshot):
        addresses.add(local_address(snapshot))
    return addresses


def asked_from_outside(snapshot: Snapshot, answer: DNSAnswer) -> str:
    """Why ``answer`` is another network's ("" when it is not known to be): it was asked of the cluster
    DNS Service's ClusterIP from a place that is no Pod or Node (its ``from``, else where the probes of
    the same run left from). A ClusterIP exists only on the cluster's nodes and Pods."""
    from svcdoctor.dns.cluster_dns import dns_service_ips

    if answer.server not in dns_service_ips(snapshot):
        return ""
    sources = [answer.source] if answer.source else list(dict.fromkeys(p.source for p in snapshot.probe_results))
    outside = [source for source in sources if outside_cluster(snapshot, source)]
    if not outside or len(outside) != len(sources):
        return ""
    return (f"it was asked of the ClusterIP {answer.server} from {describe_source(snapshot, outside[0])}, outside "
            "the cluster: a ClusterIP answers only on the cluster's nodes and Pods, so another network answered")


def foreign_resolver(snapshot: Snapshot, answer: DNSAnswer, zone: str) -> str:
    """Why the resolver that gave ``answer`` is not this cluster's DNS ("" when nothing says so): it
    answered ``kubernetes.default`` — a name this cluster's DNS answers with the ClusterIP of Service
    default/kubernetes, when the snapshot holds it — with other addresses (a wildcard or hijacking
    resolver, another cluster's DNS)."""
    from svcdoctor.dns.evidence import addresses as answer_addresses
    from svcdoctor.dns.evidence import is_control
    from svcdoctor.dns.records import cluster_ips

    kubernetes = snapshot.service("default", "kubernetes")
    expected = set(cluster_ips(kubernetes)) if kubernetes is not None else set()
    if not expected:
        return ""
    for other in snapshot.dns_answers:
        got = answer_addresses(other)
        if other.server == answer.server and other.rcode == "NOERROR" and got and not got & expected \
                and is_control(other, zone):
            return (f"the same resolver{' ' + answer.server if answer.server else ''} answered {other.name} with "
                    f"{sorted(got)[0]}, not the ClusterIP of Service default/kubernetes ({sorted(expected)[0]}): it "
                    "is not this cluster's DNS")
    return ""


def answer_doubt(snapshot: Snapshot, answer: DNSAnswer) -> str:
    """Why a DNS answer may not be the cluster DNS speaking ("" when nothing says so), from its content.

    - it names a resolver that is none of the cluster DNS addresses (``--dns-server 8.8.8.8``, a
      laptop's resolver): its failure to know cluster names is no failure of cluster DNS;
    - it was asked of a ClusterIP from outside the cluster: a ClusterIP exists only on the cluster's
      nodes and Pods, so what answered (or failed to) there is another network;
    - the same resolver answered another cluster name with this cluster's address: it is cluster DNS,
      and it works — a failure beside that says nothing about DNS "itself".
    """
    from svcdoctor.dns.evidence import addresses as answer_addresses

    server = answer.server
    if server and server not in cluster_dns_addresses(snapshot):
        return f"it came from {server}, which is not the cluster DNS Service, one of its Pods or the node-local cache"
    outside = asked_from_outside(snapshot, answer)
    if outside:
        return outside
    by_port, by_ip = snapshot.memo("probe-address-index", _address_index)
    cluster_addresses = {address for address, _, _ in by_port} | set(by_ip)
    for other in snapshot.dns_answers:
        if other is answer or other.server != server or other.rcode != "NOERROR":
            continue
        known = sorted(answer_addresses(other) & cluster_addresses)
        if known:
            return (f"the same resolver{' ' + server if server else ''} answered {other.name} with {known[0]}, an "
                    "address of this cluster: it is the cluster DNS, and it answers")
    return ""


def service_probes_or_skip(snapshot: Snapshot, namespace: str, name: str) -> list[ProbeResult]:
    """The Service's probes; raises Skip when there are none or when the probes could not see the cluster."""
    if not snapshot.probe_results:
        raise NotChecked("no probes", PROBE_HOW)
    if visibility(snapshot).blind:
        raise Skip("the probes could not reach any cluster address from where they were sent (SD905)")
    probes = probes_of_service(snapshot, namespace, name)
    if not probes:
        raise NotChecked("no probe aimed at this Service or its Pods", PROBE_HOW)
    return probes


def probe_evidence(probe: ProbeResult) -> dict[str, object]:
    """A probe as evidence: where to, what came back, from where."""
    value: dict[str, object] = {"to": f"{probe.ip}:{probe.port}/{probe.protocol}", "result": probe.result}
    if probe.source:
        value["from"] = probe.source
    if probe.seconds is not None:
        value["seconds"] = round(probe.seconds, 3)
    return value
