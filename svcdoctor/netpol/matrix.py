"""The reachability matrix behind ``svcdoctor reach``: rows are sources, columns destinations, per port.

Like the truth tables of the upstream NetworkPolicy conformance tests (``.`` connected, ``X``
blocked). Pods that no policy can tell apart — same namespace, same values for every label key
any selector reads, same declared ports, same ipBlock matches — form one group, so a namespace
of many replicas is one row per workload; each cell is decided once for the group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj
from svcdoctor.netpol.evaluator import EGRESS, INGRESS, Evaluator, in_network, ip_endpoint, pod_endpoint, resolve_port
from svcdoctor.netpol.interface import PROTOCOLS, Endpoint, Traffic
from svcdoctor.netpol.model import CompiledPeer, CompiledPolicy
from svcdoctor.netpol.tiers import PolicyStack
from svcdoctor.selectors import Selector, from_service_selector
from svcdoctor.snapshot import Snapshot

ALLOWED = "."
DENIED = "X"
NOT_APPLICABLE = "-"


@dataclass(frozen=True)
class Member:
    """One row or column: a group of equivalent Pods (or one Pod, or an outside address)."""

    id: str
    endpoint: Endpoint
    #: ``NS/NAME`` of every Pod of the group (empty for an address).
    pods: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.endpoint.kind, "namespace": self.endpoint.namespace,
                "pods": list(self.pods), "ips": list(self.endpoint.ips)}


@dataclass(frozen=True)
class PortSpec:
    """A port as asked: a number or a name (resolved per destination Pod), and a protocol."""

    port: int | str
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class PortMatrix:
    """One port's table: ``cells[row][column]`` is ``.``, ``X`` or ``-`` (the port is not on that Pod)."""

    port: PortSpec
    cells: tuple[tuple[str, ...], ...]
    #: For each denied cell, (row, column, "ingress" | "egress" | "ingress+egress").
    denied_by: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class Matrix:
    """Every port's table over the same sources and destinations."""

    sources: tuple[Member, ...]
    destinations: tuple[Member, ...]
    ports: tuple[PortMatrix, ...]
    #: Whether the ports are Service ports (reached through the Services that select each Pod).
    via_services: bool = False
    #: The policy layers that decided: ``NetworkPolicy``, or with admin tiers and Cilium as well.
    layers: str = "NetworkPolicy"

    def cell(self, port: str, source: str, destination: str) -> str:
        row = [m.id for m in self.sources].index(source)
        column = [m.id for m in self.destinations].index(destination)
        table = next(p for p in self.ports if str(p.port) == port)
        return table.cells[row][column]


def parse_port(text: str) -> PortSpec:
    """``80``, ``80/UDP``, ``http``, ``dns/UDP`` → :class:`PortSpec`; ValueError when malformed."""
    value, _, protocol = text.partition("/")
    protocol = (protocol or "TCP").upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    value = value.strip()
    if not value:
        raise ValueError("empty port")
    if value.isdigit():
        number = int(value)
        if not 1 <= number <= 65535:
            raise ValueError(f"port {number} is not between 1 and 65535")
        return PortSpec(number, protocol)
    return PortSpec(value, protocol)


def _selectors(policy: CompiledPolicy) -> Iterable[Selector]:
    yield policy.pod_selector
    for rule in policy.ingress + policy.egress:
        for peer in rule.peers or ():
            if peer.pod_selector is not None:
                yield peer.pod_selector


def _ip_blocks(policies: Sequence[CompiledPolicy]) -> list[CompiledPeer]:
    return [peer for policy in policies for rule in policy.ingress + policy.egress for peer in rule.peers or ()
            if peer.cidr is not None]


def group_pods(evaluator: Evaluator, pods: Sequence[Obj], each_pod: bool = False,
               stack: PolicyStack | None = None) -> list[Member]:
    """Pods that every policy treats alike, grouped (or one member per Pod with ``each_pod``).

    With a ``stack`` of admin-tier or Cilium policies (selectors and CIDRs of their own), Pods are
    grouped by all their labels, their ServiceAccount and which admin ``networks`` hold their address.
    """
    networks = [network for tier in (stack.admin.by_tier.values() if stack is not None else ())
                for policy in tier for rule in policy.ingress + policy.egress for peer in rule.peers
                for network in peer.networks]
    endpoints = [pod_endpoint(pod) for pod in pods]
    if each_pod:
        return [Member(f"{e.namespace}/{e.name}", e, (f"{e.namespace}/{e.name}",)) for e in endpoints]
    policies = [p for namespace in evaluator.snapshot.namespace_names() for p in evaluator.policies_in(namespace)]
    keys = {r.key for p in policies for s in _selectors(p) for r in s.requirements}
    blocks = _ip_blocks(policies)
    groups: dict[tuple[Any, ...], list[tuple[Obj, Endpoint]]] = {}
    for pod, endpoint in zip(pods, endpoints, strict=True):
        labels = tuple((k, v) for k, v in endpoint.labels if stack is not None or k in keys)
        signature: tuple[Any, ...] = tuple(evaluator.peer_matches(b, endpoint, "") for b in blocks)
        if stack is not None:
            signature += (str(k8s.spec(pod).get("serviceAccountName") or ""),
                          *(any(in_network(ip, n) for ip in endpoint.ips) for n in networks))
        node = endpoint.node if endpoint.host_network else ""
        key = (endpoint.namespace, labels, endpoint.ports, signature, endpoint.host_network, node)
        groups.setdefault(key, []).append((pod, endpoint))
    members: list[Member] = []
    used: set[str] = set()
    # Named after the workload, not a Pod, so that a reviewed matrix stays valid across rollouts.
    named = []
    for items in groups.values():
        pod, endpoint = items[0]
        workload = evaluator.snapshot.workload_of(pod)
        named.append((f"{endpoint.namespace}/{workload.name if workload is not None else endpoint.name}", items))
    order = {namespace: index for index, namespace in enumerate(dict.fromkeys(e.namespace for e in endpoints))}
    named.sort(key=lambda item: (order[item[1][0][1].namespace], item[0]))
    for base, items in named:
        endpoint = items[0][1]
        identifier = base
        counter = 2
        while identifier in used:
            identifier = f"{base}#{counter}"
            counter += 1
        used.add(identifier)
        members.append(Member(identifier, endpoint, tuple(f"{e.namespace}/{e.name}" for _, e in items)))
    return members


def default_ports(destinations: Sequence[Member]) -> list[PortSpec]:
    """Every port number the destination Pods declare, each protocol apart, in order."""
    seen: dict[tuple[int, str], None] = {}
    for member in destinations:
        for declared in member.endpoint.ports:
            seen.setdefault((declared.number, declared.protocol), None)
    return [PortSpec(number, protocol) for number, protocol in sorted(seen, key=lambda x: (x[1] != "TCP", x))]


def through_service(snapshot: Snapshot, destination: Endpoint, spec: PortSpec) -> int | None:
    """The Pod port a Service port reaches on ``destination``: through a Service that selects it."""
    from svcdoctor.netpol.service import pod_port

    pod = snapshot.pod(destination.namespace, destination.name)
    if pod is None:
        return None
    for service in snapshot.services_in(destination.namespace):
        selector = k8s.as_map(k8s.spec(service).get("selector"))
        if not selector or not from_service_selector(selector).matches(k8s.labels(pod)):
            continue
        for port in k8s.service_ports(service):
            if k8s.port_protocol(port).upper() == spec.protocol and spec.port in (port.get("port"), port.get("name")):
                number = pod_port(pod, port)
                if number is not None:
                    return number
    return None


def build_matrix(evaluator: Evaluator, sources: Sequence[Member], destinations: Sequence[Member],
                 ports: Sequence[PortSpec], via_services: bool = False, stack: PolicyStack | None = None) -> Matrix:
    """Decide every (source, destination, port) cell.

    With ``via_services`` a port names a Service port: each destination is reached through a
    Service that selects it, at the targetPort that port leads to (``-`` when no Service does).
    With ``stack`` every policy tier decides (admin, NetworkPolicy with Cilium, baseline), not
    NetworkPolicy alone.
    """

    def decide(direction: str, subject: Endpoint, remote: Endpoint, traffic: Traffic) -> bool:
        if stack is not None:
            return stack.decide(direction, subject, remote, traffic).allowed
        return evaluator.decide(direction, subject, remote, traffic)

    tables = []
    for spec in ports:
        rows: list[tuple[str, ...]] = []
        denied: list[tuple[int, int, str]] = []
        traffic_by_column: list[Traffic | None] = []
        for destination in destinations:
            if via_services:
                number = through_service(evaluator.snapshot, destination.endpoint, spec)
            else:
                number = resolve_port(destination.endpoint, spec.port, spec.protocol)
            traffic_by_column.append(None if number is None else Traffic(number, spec.protocol))
        for row_index, source in enumerate(sources):
            row: list[str] = []
            for column_index, destination in enumerate(destinations):
                traffic = traffic_by_column[column_index]
                if traffic is None:
                    row.append(NOT_APPLICABLE)
                    continue
                ingress = decide(INGRESS, destination.endpoint, source.endpoint, traffic)
                egress = (source.endpoint.kind != "pod"
                          or decide(EGRESS, source.endpoint, destination.endpoint, traffic))
                if ingress and egress:
                    row.append(ALLOWED)
                else:
                    row.append(DENIED)
                    by = "+".join(d for d, ok in (("ingress", ingress), ("egress", egress)) if not ok)
                    denied.append((row_index, column_index, by))
            rows.append(tuple(row))
        tables.append(PortMatrix(spec, tuple(rows), tuple(denied)))
    layers = "NetworkPolicy, admin tiers and Cilium policies" if stack is not None else "NetworkPolicy"
    return Matrix(tuple(sources), tuple(destinations), tuple(tables), via_services, layers)


def select_members(snapshot: Snapshot, evaluator: Evaluator, namespaces: Sequence[str], pods: Sequence[str],
                   each_pod: bool, stack: PolicyStack | None = None) -> list[Member]:
    """The Pods to put in the matrix: the named ones, else every live Pod of the namespaces."""
    chosen: list[Obj] = []
    if pods:
        for item in pods:
            namespace, _, name = item.partition("/")
            pod = snapshot.pod(namespace, name)
            if pod is None:
                raise LookupError(item)
            chosen.append(pod)
    else:
        for namespace in namespaces:
            chosen.extend(p for p in snapshot.pods_in(namespace)
                          if k8s.pod_phase(p) not in ("Succeeded", "Failed"))
    return group_pods(evaluator, chosen, each_pod, stack)


def address_members(addresses: Sequence[str]) -> list[Member]:
    return [Member(address, ip_endpoint(address)) for address in addresses]


# -- an expected matrix (the output of svcdoctor.render.reach, read back) -------------------


def read_expected(text: str) -> dict[str, dict[tuple[str, str], str]]:
    """A matrix to compare with: ``reach -o json`` output, or ``reach`` text (truth tables).

    Returns port ("80/TCP") → (source, destination) → cell.
    """
    import json

    stripped = text.lstrip()
    result: dict[str, dict[tuple[str, str], str]] = {}
    if stripped.startswith("{"):
        document = json.loads(stripped)
        sources = [m["id"] for m in document["sources"]]
        destinations = [m["id"] for m in document["destinations"]]
        for table in document["ports"]:
            cells: dict[tuple[str, str], str] = {}
            for source, row in zip(sources, table["matrix"], strict=True):
                for destination, cell in zip(destinations, row, strict=True):
                    cells[(source, destination)] = cell
            result[f"{table['port']}/{table['protocol']}"] = cells
        return result
    port = ""
    header: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            header = []
            continue
        if words[0] == "port" and len(words) >= 2:
            port = words[1]
            result.setdefault(port, {})
            header = []
        elif words[0] == "from\\to":
            header = words[1:]
        elif header and port:
            if len(words) != len(header) + 1:
                raise ValueError(f"row {words[0]!r} has {len(words) - 1} cells for {len(header)} columns")
            for destination, cell in zip(header, words[1:], strict=True):
                result[port][(words[0], destination)] = cell
    if not result:
        raise ValueError("no 'port …' table found")
    return result


def compare(matrix: Matrix, expected: dict[str, dict[tuple[str, str], str]]) -> list[str]:
    """Every cell that differs from ``expected`` (cells it does not mention are not compared)."""
    differences = []
    actual: dict[str, dict[tuple[str, str], str]] = {}
    for table in matrix.ports:
        cells = {}
        for source, row in zip(matrix.sources, table.cells, strict=True):
            for destination, cell in zip(matrix.destinations, row, strict=True):
                cells[(source.id, destination.id)] = cell
        actual[str(table.port)] = cells
    for port, cells in expected.items():
        if port not in actual:
            differences.append(f"port {port}: expected, but not in this matrix (add --port {port})")
            continue
        for (source_id, destination_id), wanted in cells.items():
            have = actual[port].get((source_id, destination_id))
            if have is None:
                differences.append(f"port {port}: {source_id} -> {destination_id} expected {wanted}, "
                                   "not in this matrix")
            elif have != wanted:
                word = {ALLOWED: "allowed", DENIED: "denied", NOT_APPLICABLE: "no such port"}
                differences.append(f"port {port}: {source_id} -> {destination_id} is {word.get(have, have)}, "
                                   f"expected {word.get(wanted, wanted)}")
    return differences
