"""Which probes to send: addresses and ports taken only from the snapshot's own objects.

Pure. Only addresses :mod:`svcdoctor.probe.bounds` allows are planned (the others are listed in
:attr:`Plan.refused`). In priority order, so that ``--max-probes`` cuts the least telling ones: the control probes
(the cluster DNS Service and one of its Pods: they show whether cluster addresses are reachable at
all from here), the ClusterIP ports, each ready endpoint's Pod IP and targetPort, the NodePorts on
each node's addresses, and the load-balancer addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.dns.cluster_dns import DNS_NAMESPACE, dns_pods, dns_services
from svcdoctor.endpoints import Endpoint, service_endpoints
from svcdoctor.k8s import Obj
from svcdoctor.probe.analysis import CLUSTER_IP, DNS_POD, DNS_SERVICE, LOAD_BALANCER, NODE_PORT, POD
from svcdoctor.probe.bounds import Bounds, bounds_of, refusal
from svcdoctor.snapshot import Snapshot

DNS_PORT = 53


@dataclass(frozen=True)
class ProbeTarget:
    """One probe to send."""

    ip: str
    port: int
    #: ``TCP``, or ``UDP`` (only port 53, probed with a DNS query).
    protocol: str
    #: What the address is (see :mod:`svcdoctor.probe.analysis`).
    kind: str
    #: The object it belongs to, e.g. ``Pod shop/web-1`` or ``Service shop/web via Node node-a``.
    object: str

    @property
    def is_dns(self) -> bool:
        return self.protocol == "UDP" and self.port == DNS_PORT


@dataclass(frozen=True)
class Plan:
    """The probes to send and how many were left out by the limit."""

    targets: tuple[ProbeTarget, ...]
    left_out: int
    #: Ports that cannot be probed (UDP other than DNS, SCTP), as words.
    not_probed: tuple[str, ...] = ()
    #: Addresses the objects name that must not be probed (:mod:`svcdoctor.probe.bounds`), and why.
    refused: tuple[str, ...] = ()


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _probe_protocol(port: Mapping[str, Any]) -> str | None:
    protocol = k8s.port_protocol(port).upper()
    if protocol == "TCP":
        return "TCP"
    if protocol == "UDP" and int(port.get("port") or 0) == DNS_PORT:
        return "UDP"
    return None


def _endpoint_port(endpoint: Endpoint, service_port: Mapping[str, Any]) -> int | None:
    """The port an endpoint serves a Service port on (the resolved targetPort)."""
    wanted_name = str(service_port.get("name") or "")
    protocol = k8s.port_protocol(service_port)
    for port in endpoint.ports:
        if port.name == wanted_name and port.protocol == protocol and port.port:
            return port.port
    target = k8s.target_port(service_port)
    return target if isinstance(target, int) and target else None


def node_addresses(node: Obj) -> list[str]:
    """A node's InternalIP and ExternalIP addresses, InternalIP first."""
    found = []
    for wanted in ("InternalIP", "ExternalIP"):
        for item in k8s.as_list(k8s.status(node).get("addresses")):
            if isinstance(item, Mapping) and item.get("type") == wanted and _valid_ip(str(item.get("address"))):
                found.append(str(item["address"]))
    return found


def _controls(snapshot: Snapshot) -> list[ProbeTarget]:
    targets = []
    for service in dns_services(snapshot)[:1]:
        ip = k8s.cluster_ip(service)
        if _valid_ip(ip):
            label = f"Service {DNS_NAMESPACE}/{k8s.name(service)}"
            targets.append(ProbeTarget(ip, DNS_PORT, "UDP", DNS_SERVICE, label))
    for pod in [p for p in dns_pods(snapshot) if k8s.pod_is_ready(p) and _valid_ip(k8s.pod_ip(p))][:1]:
        targets.append(ProbeTarget(k8s.pod_ip(pod), DNS_PORT, "UDP", DNS_POD, f"Pod {DNS_NAMESPACE}/{k8s.name(pod)}"))
    return targets


def service_targets(snapshot: Snapshot, service: Obj) -> tuple[list[ProbeTarget], list[str]]:
    """Every probe the Service's objects call for, in priority order, and the ports left unprobed."""
    namespace, name = k8s.namespace(service), k8s.name(service)
    label = f"Service {namespace}/{name}"
    ports = k8s.service_ports(service)
    not_probed = [f"{k8s.port_label(p)} (only TCP, and UDP port 53 by a DNS query, can be probed)"
                  for p in ports if _probe_protocol(p) is None]
    targets: list[ProbeTarget] = []
    if k8s.service_type(service) == "ExternalName":
        return targets, not_probed
    from svcdoctor.dns.records import cluster_ips

    for ip in [] if k8s.is_headless(service) else cluster_ips(service):
        for port in ports:
            protocol = _probe_protocol(port)
            if protocol:
                targets.append(ProbeTarget(ip, int(port.get("port") or 0), protocol, CLUSTER_IP, label))
    seen_pod_targets: set[tuple[str, int, str]] = set()
    for endpoint in service_endpoints(snapshot, namespace, name):
        if not endpoint.ready or not _valid_ip(endpoint.address):
            continue
        owner = (f"Pod {endpoint.target.namespace}/{endpoint.target.name}"
                 if endpoint.target is not None and endpoint.target.kind == "Pod" else "")
        for port in ports:
            protocol = _probe_protocol(port)
            number = _endpoint_port(endpoint, port)
            if protocol and number and (endpoint.address, number, protocol) not in seen_pod_targets:
                seen_pod_targets.add((endpoint.address, number, protocol))
                targets.append(ProbeTarget(endpoint.address, number, protocol, POD, owner))
    service_type = k8s.service_type(service)
    if service_type in ("NodePort", "LoadBalancer"):
        for node in sorted(snapshot.nodes, key=k8s.name):
            for address in node_addresses(node)[:1]:
                for port in ports:
                    protocol = _probe_protocol(port)
                    if protocol and port.get("nodePort"):
                        targets.append(ProbeTarget(address, int(port["nodePort"]), protocol, NODE_PORT,
                                                   f"{label} via Node {k8s.name(node)}"))
    if service_type == "LoadBalancer":
        for ingress in k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer")).get("ingress")):
            address = str(k8s.as_map(ingress).get("ip") or "")
            if not _valid_ip(address):
                continue
            for port in ports:
                protocol = _probe_protocol(port)
                if protocol:
                    targets.append(ProbeTarget(address, int(port.get("port") or 0), protocol, LOAD_BALANCER,
                                               f"{label} via LoadBalancer {address}"))
    return targets, not_probed


def plan(snapshot: Snapshot, namespace: str, name: str, limit: int) -> Plan:
    """The probes for ``namespace/name``: control probes first, at most ``limit`` in all."""
    service = snapshot.service(namespace, name)
    wanted: list[ProbeTarget] = _controls(snapshot)
    not_probed: list[str] = []
    if service is not None:
        targets, not_probed = service_targets(snapshot, service)
        wanted += targets
    allowed, refused = within_bounds(list(dict.fromkeys(wanted)), bounds_of(snapshot))
    limit = max(0, limit)
    return Plan(tuple(allowed[:limit]), max(0, len(allowed) - limit), tuple(not_probed), tuple(refused))


def within_bounds(targets: Iterable[ProbeTarget], bounds: Bounds) -> tuple[list[ProbeTarget], list[str]]:
    """The targets that may be probed, and a line for each one refused."""
    allowed, refused = [], []
    for target in targets:
        reason = refusal(target.ip, target.port, pod=target.kind in (POD, DNS_POD), bounds=bounds)
        if reason:
            refused.append(f"{target.object or target.kind} {target.ip}:{target.port}: {reason}")
        else:
            allowed.append(target)
    return allowed, refused


def kinds(targets: Iterable[ProbeTarget]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for target in targets:
        counts[target.kind] = counts.get(target.kind, 0) + 1
    return counts
