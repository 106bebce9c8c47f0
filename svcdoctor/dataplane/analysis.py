"""What a Service's traffic should do on a node, and what the node's rules make it do.

For every way into a Service — ClusterIP:port, NodePort on each node address, externalIPs,
load-balancer ingress IPs — :func:`service_paths` works out what kube-proxy is meant to do with
a new connection (send it to these endpoints; drop it because ``externalTrafficPolicy: Local``
has no endpoint here; reject it because there are no endpoints) and traces a packet through
the node's parsed rules to see what they really do. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from svcdoctor import k8s
from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Packet, Rule, Trace
from svcdoctor.dataplane.node import NodeDataplane
from svcdoctor.endpoints import Endpoint
from svcdoctor.k8s import Obj

#: A client address outside any cluster (TEST-NET-3): external traffic as a browser sends it.
OUTSIDE_CLIENT = "203.0.113.77"
OUTSIDE_CLIENT_V6 = "2001:db8:ffff::77"

KINDS = ("clusterIP", "nodePort", "externalIP", "loadBalancer")


@dataclass(frozen=True)
class PathResult:
    """One way into one Service port on one node: what should happen and what the rules do."""

    #: ``clusterIP`` | ``nodePort`` | ``externalIP`` | ``loadBalancer``.
    kind: str
    address: str
    port: int
    protocol: str
    #: The Service port's name ("" when unnamed) and number.
    port_name: str
    service_port: int
    #: ``endpoints`` (DNAT to :attr:`expected`), ``drop`` (Local policy, no endpoint on this
    #: node) or ``reject`` (no usable endpoint at all).
    expect: str
    expected: frozenset[tuple[str, int]]
    trace: Trace

    @property
    def label(self) -> str:
        return f"{self.kind} {self.address}:{self.port}/{self.protocol}"

    @cached_property
    def reached(self) -> frozenset[tuple[str, int]]:
        return frozenset(self.trace.destinations)

    @property
    def stale(self) -> frozenset[tuple[str, int]]:
        """Destinations the rules send to that are not the Service's usable endpoints."""
        return self.reached - self.expected if self.expect == "endpoints" else self.reached

    @property
    def missing(self) -> frozenset[tuple[str, int]]:
        """Usable endpoints the rules never send to."""
        return self.expected - self.reached if self.expect == "endpoints" else frozenset()

    @property
    def decided(self) -> bool:
        """Every line of the dump the packet met was read and evaluated (see ``Trace.undecided``)."""
        return not self.trace.undecided

    @property
    def untouched(self) -> bool:
        """No rule translated, dropped or rejected the packet: kube-proxy has nothing for it."""
        return not self.trace.destinations and self.trace.verdicts <= {"", "ACCEPT"}

    @property
    def translated(self) -> bool:
        """Some rule DNATed the packet (whatever happened to it afterwards)."""
        return any(branch.destination is not None for branch in self.trace.branches)

    def blocked(self) -> list[tuple[float, str, Rule | None, tuple[str, int] | None]]:
        """The share of connections that meant to reach the endpoints and were rejected or dropped by a
        rule other than kube-proxy's "has no endpoints" reject: (share, REJECT|DROP, the rule that did it,
        where kube-proxy had sent the packet or None)."""
        if self.expect != "endpoints":
            return []
        found = []
        for branch in self.trace.branches:
            if branch.verdict not in ("REJECT", "DROP"):
                continue
            rule = branch.rules[-1] if branch.rules else None
            if branch.verdict == "REJECT" and self._kube_proxy_reject(branch.rules) is not None:
                continue
            found.append((branch.probability, branch.verdict, rule, branch.destination))
        return found

    @property
    def rejected(self) -> bool:
        return "REJECT" in self.trace.verdicts

    @property
    def dropped(self) -> bool:
        return "DROP" in self.trace.verdicts

    def specific_reject(self) -> Rule | None:
        """kube-proxy's per-Service-port reject ("has no endpoints"), if that is what rejected it.

        Only the rule that rejected the packet counts, wherever it is. Told apart structurally from
        a catch-all reject (a host firewall's): that rule matches this exact address and port
        (iptables), or it is the catch-all of a chain the packet was sent to by a map element keyed
        by address . protocol . port (nftables' no-endpoint maps and reject-chain).
        """
        for branch in self.trace.branches:
            if branch.verdict == "REJECT":
                found = self._kube_proxy_reject(branch.rules)
                if found is not None:
                    return found
        return None

    def _kube_proxy_reject(self, rules: tuple[Rule, ...]) -> Rule | None:
        if not rules:
            return None
        rejecter = rules[-1]
        if _names_address_and_port(rejecter, self.address, self.port):
            return rejecter
        if (len(rules) >= 2 and not rejecter.matches and rules[-2].action[0] == "vmap"
                and _names_address_and_port(rules[-2], self.address, self.port)):
            return rules[-2]
        return None


def _names_address_and_port(rule: Rule, address: str, port: int) -> bool:
    action = rule.action
    if action[0] == "vmap":
        return "dport" in action[1] and ("daddr" in action[1] or "l4proto" in action[1])
    if action[0] != "reject":
        return False
    has_address = has_port = False
    for match in rule.matches:
        if (match[0] == "daddr" and not match[2]) or (match[0] == "dst_type" and not match[2]):
            has_address = True
        elif match[0] == "dport" and not match[2] and any(low <= port <= high for low, high in match[1]):
            has_port = True
    return has_address and has_port


def usable_endpoints(endpoints: Iterable[Endpoint], port_name: str, protocol: str, family: int,
                     node: str | None = None) -> frozenset[tuple[str, int]]:
    """The (ip, port) pairs kube-proxy sends a Service port to: ready endpoints, else serving
    terminating ones; only those on ``node`` when a Local traffic policy applies."""
    candidates = list(endpoints) if node is None else [endpoint for endpoint in endpoints if endpoint.node == node]
    chosen = [endpoint for endpoint in candidates if endpoint.ready]
    if not chosen:
        chosen = [endpoint for endpoint in candidates if endpoint.serving and endpoint.terminating]
    protocol = protocol.upper()
    result = set()
    for endpoint in chosen:
        if _family(endpoint.address) != family:
            continue
        for port in endpoint.ports:
            if port.name == port_name and port.port and port.protocol.upper() == protocol:
                result.add((endpoint.address, port.port))
    return frozenset(result)


def _family(address: str) -> int:
    try:
        return addresses.address(address)[0]
    except ValueError:
        return 0


def node_addresses(node: Obj | None) -> list[str]:
    """A Node's InternalIP / ExternalIP addresses (what NodePorts listen on)."""
    if node is None:
        return []
    found = []
    for item in k8s.as_list(k8s.status(node).get("addresses")):
        if (isinstance(item, Mapping) and item.get("type") in ("InternalIP", "ExternalIP")
                and _family(str(item.get("address") or ""))):
            found.append(str(item["address"]))
    return found


def _service_addresses(service: Obj) -> dict[str, list[str]]:
    spec = k8s.spec(service)
    cluster_ips = [str(ip) for ip in k8s.as_list(spec.get("clusterIPs")) if ip and ip != "None"]
    if not cluster_ips and spec.get("clusterIP") and spec.get("clusterIP") != "None":
        cluster_ips = [str(spec.get("clusterIP"))]
    external = [str(ip).strip() for ip in k8s.as_list(spec.get("externalIPs")) if ip]
    balancers = []
    for ingress in k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer")).get("ingress")):
        if isinstance(ingress, Mapping) and ingress.get("ip") and ingress.get("ipMode") != "Proxy":
            balancers.append(str(ingress["ip"]))
    return {"clusterIP": [ip for ip in cluster_ips if _family(ip)],
            "externalIP": [ip for ip in external if _family(ip)],
            "loadBalancer": [ip for ip in balancers if _family(ip)]}


def _source_for(kind: str, family: int, service: Obj) -> str:
    if kind == "loadBalancer":
        for text in k8s.as_list(k8s.spec(service).get("loadBalancerSourceRanges")):
            try:
                network = ipaddress.ip_network(str(text).strip(), strict=False)
            except ValueError:
                continue
            if network.version == family:
                return str(network.network_address + (1 if network.num_addresses > 2 else 0))
    return OUTSIDE_CLIENT if family == 4 else OUTSIDE_CLIENT_V6


def service_paths(dataplane: NodeDataplane, service: Obj, endpoints: Sequence[Endpoint],
                  local_addresses: Sequence[str], *, kinds: Iterable[str] = KINDS) -> list[PathResult]:
    """Trace every way into every port of ``service`` through ``dataplane``.

    ``local_addresses`` are the node's addresses: NodePorts are traced on each of them.
    """
    wanted = set(kinds)
    spec = k8s.spec(service)
    service_type = k8s.service_type(service)
    if service_type == "ExternalName":
        return []
    external_local = spec.get("externalTrafficPolicy") == "Local" and service_type in ("NodePort", "LoadBalancer")
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    families = dataplane.families
    addresses_by_kind = _service_addresses(service)
    results: list[PathResult] = []
    usable: dict[tuple[str, str, int, str | None], frozenset[tuple[str, int]]] = {}

    def endpoints_for(port_name: str, protocol: str, family: int, node: str | None) -> frozenset[tuple[str, int]]:
        key = (port_name, protocol, family, node)
        found = usable.get(key)
        if found is None:
            found = usable[key] = usable_endpoints(endpoints, port_name, protocol, family, node)
        return found

    for port in k8s.service_ports(service):
        port_name = str(port.get("name") or "")
        protocol = str(port.get("protocol") or "TCP").upper()
        try:
            number = int(port.get("port") or 0)
            node_port = int(port.get("nodePort") or 0)
        except (TypeError, ValueError):
            continue
        targets: list[tuple[str, str, int]] = []
        for kind in ("clusterIP", "externalIP", "loadBalancer"):
            targets.extend((kind, ip, number) for ip in addresses_by_kind[kind])
        if node_port and service_type in ("NodePort", "LoadBalancer"):
            targets.extend(("nodePort", ip, node_port) for ip in local_addresses)
        for kind, address, destination_port in targets:
            family = _family(address)
            if kind not in wanted or family not in families:
                continue
            cluster = endpoints_for(port_name, protocol, family, None)
            if kind == "clusterIP":
                expected = endpoints_for(port_name, protocol, family, dataplane.node) if internal_local else cluster
                expect = "endpoints" if expected else "reject" if not cluster or not internal_local else "drop"
            elif external_local:
                expected = endpoints_for(port_name, protocol, family, dataplane.node)
                expect = "endpoints" if expected else "drop" if cluster else "reject"
            else:
                expected = cluster
                expect = "endpoints" if expected else "reject"
            packet = Packet(address, destination_port, protocol.lower(), _source_for(kind, family, service))
            trace = dataplane.trace(packet, local_addresses)
            results.append(PathResult(kind, address, destination_port, protocol, port_name, number, expect,
                                      expected, trace))
    return results


def describe(destinations: Iterable[tuple[str, int]]) -> list[str]:
    return [f"{ip}:{port}" for ip, port in sorted(destinations)]


def rule_lines(rules: Iterable[Rule], limit: int = 12) -> list[str]:
    """Rule texts for evidence, each prefixed by where it is (table, chain, line)."""
    lines = []
    for rule in rules:
        where = f"line {rule.line}: " if rule.line else ""
        lines.append(f"{where}{rule.text}")
        if len(lines) >= limit:
            break
    return lines
