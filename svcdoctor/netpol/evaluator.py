"""The NetworkPolicy evaluator: is this connection allowed, and why (not)?

A connection from a source (Pod, outside address, node) to a destination Pod on a port needs both
the destination's ingress and the source's egress to allow it. In each direction a Pod that no
policy of that direction selects is open; once any policy selects it, only what the union of
those policies' rules admits gets through. The destination's own node may always reach it.

:class:`Evaluator` compiles the snapshot's policies once per namespace and records which policies
select which Pods (through the Snapshot's label index), so deciding one pair costs only the rules
of the policies that select it; peer matches are cached per (peer, endpoint).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import yaml

from svcdoctor import k8s
from svcdoctor.k8s import Obj
from svcdoctor.netpol.interface import (
    EGRESS,
    INGRESS,
    ContainerPort,
    DirectionResult,
    Endpoint,
    PeerResult,
    PolicyResult,
    PortResult,
    RuleResult,
    Suggestion,
    Traffic,
    Verdict,
)
from svcdoctor.netpol.model import CompiledPeer, CompiledPolicy, CompiledPort, CompiledRule, compile_policies
from svcdoctor.selectors import Requirement, Selector
from svcdoctor.snapshot import Snapshot

#: Labels that change per Pod or per rollout: never good for a policy's podSelector.
VOLATILE_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "pod-template-generation", "batch.kubernetes.io/controller-uid",
    "controller-uid", "batch.kubernetes.io/job-completion-index",
})
#: Labels that name an application, preferred for a suggested podSelector.
IDENTITY_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/component", "component")
#: The distance of a peer that can never match the endpoint (a selector against an address).
NEVER = 100


def pod_endpoint(pod: Obj) -> Endpoint:
    """A Pod as the evaluator sees it: namespace, labels, addresses, declared ports, node."""
    ports = []
    for _container, port in k8s.container_ports(pod):
        number = port.get("containerPort")
        if isinstance(number, int):
            ports.append(ContainerPort(str(port.get("name") or ""), number, k8s.port_protocol(port).upper()))
    return Endpoint(
        kind="pod", namespace=k8s.namespace(pod), name=k8s.name(pod), ips=tuple(k8s.pod_ips(pod)),
        labels=tuple(sorted((str(k), str(v)) for k, v in k8s.labels(pod).items())), ports=tuple(ports),
        node=str(k8s.spec(pod).get("nodeName") or ""), host_network=bool(k8s.spec(pod).get("hostNetwork")),
        shown=k8s.stand_in_text(pod),
    )


def ip_endpoint(ip: str) -> Endpoint:
    return Endpoint(kind="ip", ips=(ip,))


def node_endpoint(snapshot: Snapshot, name: str) -> Endpoint:
    """A host-network client: the node's InternalIP stands for it."""
    node = snapshot.node(name)
    addresses = [a for a in k8s.as_list(k8s.status(node or {}).get("addresses")) if isinstance(a, Mapping)]
    internal = [str(a.get("address")) for a in addresses if a.get("type") == "InternalIP" and a.get("address")]
    return Endpoint(kind="node", name=name, ips=tuple(internal), node=name)


def resolve_port(destination: Endpoint, port: int | str, protocol: str) -> int | None:
    """A port number, or a name looked up among the destination Pod's container ports."""
    if isinstance(port, int):
        return port
    for declared in destination.ports:
        if declared.name == port and declared.protocol == protocol:
            return declared.number
    return None


def in_network(ip: str, network: Any) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.version == network.version and address in network


def _failing(selector: Selector, labels: Mapping[str, str]) -> list[Requirement]:
    if selector.nothing:
        return []
    return [r for r in selector.requirements if not r.matches(labels)]


def _what_it_has(requirement: Requirement, labels: Mapping[str, str]) -> str:
    if requirement.key in labels:
        return f"{requirement.key}={labels[requirement.key]}"
    return f"no label {requirement.key}"


class Evaluator:
    """Decides and explains connections over one Snapshot's NetworkPolicies."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._compiled: dict[str, list[CompiledPolicy]] = {}
        self._selecting: dict[str, dict[str, tuple[list[CompiledPolicy], list[CompiledPolicy]]]] = {}
        self._namespace_cache: dict[tuple[int, str], bool] = {}
        self._pod_selector_cache: dict[tuple[int, tuple[tuple[str, str], ...]], bool] = {}
        self._decisions: dict[tuple[str, Endpoint, Endpoint, Traffic], bool] = {}

    # -- which policies select which Pods (once per namespace) ----------------------------------

    def policies_in(self, namespace: str) -> list[CompiledPolicy]:
        compiled = self._compiled.get(namespace)
        if compiled is None:
            compiled = compile_policies(self.snapshot.network_policies_in(namespace))
            self._compiled[namespace] = compiled
        return compiled

    def _selection(self, namespace: str) -> dict[str, tuple[list[CompiledPolicy], list[CompiledPolicy]]]:
        selection = self._selecting.get(namespace)
        if selection is None:
            selection = {}
            for policy in self.policies_in(namespace):
                for pod in self.snapshot.select_pods(namespace, policy.pod_selector):
                    entry = selection.setdefault(k8s.name(pod), ([], []))
                    if policy.applies_to(INGRESS):
                        entry[0].append(policy)
                    if policy.applies_to(EGRESS):
                        entry[1].append(policy)
            self._selecting[namespace] = selection
        return selection

    def selecting(self, subject: Endpoint, direction: str) -> list[CompiledPolicy]:
        """The policies of ``direction`` that select the Pod ``subject`` ([] for non-Pods)."""
        if subject.kind != "pod":
            return []
        if self.snapshot.pod(subject.namespace, subject.name) is None:
            # A Pod not in the snapshot (a hypothetical one): match its labels directly.
            return [p for p in self.policies_in(subject.namespace)
                    if p.applies_to(direction) and p.pod_selector.matches(subject.label_map)]
        entry = self._selection(subject.namespace).get(subject.name)
        if entry is None:
            return []
        return entry[0] if direction == INGRESS else entry[1]

    # -- matching ------------------------------------------------------------------------------

    def _namespace_matches(self, selector: Selector, namespace: str) -> bool:
        key = (id(selector), namespace)
        cached = self._namespace_cache.get(key)
        if cached is None:
            cached = selector.matches(self.snapshot.namespace_labels(namespace))
            self._namespace_cache[key] = cached
        return cached

    def _pod_matches(self, selector: Selector, labels: tuple[tuple[str, str], ...]) -> bool:
        key = (id(selector), labels)
        cached = self._pod_selector_cache.get(key)
        if cached is None:
            cached = selector.matches(dict(labels))
            self._pod_selector_cache[key] = cached
        return cached

    def peer_matches(self, peer: CompiledPeer, remote: Endpoint, policy_namespace: str) -> bool:
        if peer.problem:
            return False
        if peer.cidr is not None:
            return any(in_network(ip, peer.cidr) and not any(in_network(ip, e) for e in peer.excepts)
                       for ip in remote.ips)
        if remote.kind != "pod":
            return False
        if peer.namespace_selector is None:
            if remote.namespace != policy_namespace:
                return False
        elif not self._namespace_matches(peer.namespace_selector, remote.namespace):
            return False
        return peer.pod_selector is None or self._pod_matches(peer.pod_selector, remote.labels)

    @staticmethod
    def port_matches(entry: CompiledPort, traffic: Traffic, destination: Endpoint) -> bool:
        if entry.protocol != traffic.protocol:
            return False
        if entry.port is None:
            return True
        if isinstance(entry.port, str):
            return resolve_port(destination, entry.port, entry.protocol) == traffic.port
        if entry.end_port is not None:
            return entry.port <= traffic.port <= entry.end_port
        return entry.port == traffic.port

    def rule_admits(self, rule: CompiledRule, policy: CompiledPolicy, remote: Endpoint, traffic: Traffic,
                    destination: Endpoint) -> bool:
        if rule.ports is not None and not any(self.port_matches(p, traffic, destination) for p in rule.ports):
            return False
        return rule.peers is None or any(self.peer_matches(p, remote, policy.namespace) for p in rule.peers)

    # -- deciding ------------------------------------------------------------------------------

    @staticmethod
    def own_node(subject: Endpoint, remote: Endpoint, direction: str) -> bool:
        """Traffic from the Pod's own node (kubelet probes, host-network Pods) is always allowed in."""
        if direction != INGRESS or not subject.node:
            return False
        return (remote.kind == "node" or remote.host_network) and remote.node == subject.node

    def decide(self, direction: str, subject: Endpoint, remote: Endpoint, traffic: Traffic) -> bool:
        """Whether ``subject``'s policies of ``direction`` let the connection with ``remote`` through."""
        key = (direction, subject, remote, traffic)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        policies = self.selecting(subject, direction)
        if not policies or self.own_node(subject, remote, direction):
            result = True
        else:
            destination = subject if direction == INGRESS else remote
            result = any(self.rule_admits(rule, policy, remote, traffic, destination)
                         for policy in policies for rule in policy.rules(direction))
        self._decisions[key] = result
        return result

    def allowed(self, source: Endpoint, destination: Endpoint, traffic: Traffic) -> bool:
        """Both directions: the source's egress and the destination's ingress."""
        if source.kind == "pod" and not self.decide(EGRESS, source, destination, traffic):
            return False
        return self.decide(INGRESS, destination, source, traffic)

    # -- explaining ----------------------------------------------------------------------------

    def _peer_result(self, peer: CompiledPeer, remote: Endpoint, policy_namespace: str) -> PeerResult:
        description = peer.describe(policy_namespace)
        if peer.problem:
            return PeerResult(peer.index, False, description, (peer.problem,), NEVER)
        if peer.cidr is not None:
            for ip in remote.ips:
                if in_network(ip, peer.cidr):
                    excluded = [e for e in peer.excepts if in_network(ip, e)]
                    if excluded:
                        return PeerResult(peer.index, False, description,
                                          (f"{ip} is in {peer.cidr} but excluded by except {excluded[0]}",), 1)
                    return PeerResult(peer.index, True, description, (f"{ip} is in {peer.cidr}",))
            shown = ", ".join(remote.ips) or "no address"
            return PeerResult(peer.index, False, description, (f"{shown} is not in {peer.cidr}",),
                              1 if remote.ips else NEVER)
        if remote.kind != "pod":
            return PeerResult(peer.index, False, description,
                              (f"{remote} is not a Pod: only ipBlock peers can match it",), NEVER)
        reasons: list[str] = []
        distance = 0
        if peer.namespace_selector is None:
            if remote.namespace == policy_namespace:
                reasons.append(f"namespace {remote.namespace} is the policy's own")
            else:
                reasons.append(f"without a namespaceSelector the peer means namespace {policy_namespace} only, "
                               f"not {remote.namespace}")
                distance += 1
        else:
            namespace_labels = self.snapshot.namespace_labels(remote.namespace)
            failing = _failing(peer.namespace_selector, namespace_labels)
            if peer.namespace_selector.nothing:
                reasons.append("the namespaceSelector is invalid and selects nothing")
                distance += NEVER
            elif failing:
                reasons.append(f"namespace {remote.namespace} does not match namespaceSelector "
                               f"{peer.namespace_selector}: "
                               + "; ".join(f"wants {r}, has {_what_it_has(r, namespace_labels)}" for r in failing))
                distance += len(failing)
            else:
                reasons.append(f"namespace {remote.namespace} matches namespaceSelector "
                               f"{'{}' if peer.namespace_selector.is_everything else peer.namespace_selector}")
        if peer.pod_selector is not None:
            labels = remote.label_map
            failing = _failing(peer.pod_selector, labels)
            if peer.pod_selector.nothing:
                reasons.append("the podSelector is invalid and selects nothing")
                distance += NEVER
            elif failing:
                reasons.append(f"Pod {remote} does not match podSelector {peer.pod_selector}: "
                               + "; ".join(f"wants {r}, has {_what_it_has(r, labels)}" for r in failing))
                distance += len(failing)
            else:
                reasons.append(f"Pod {remote} matches podSelector "
                               f"{'{}' if peer.pod_selector.is_everything else peer.pod_selector}")
        if (distance and peer.namespace_selector is not None and peer.pod_selector is not None
                and any(" matches " in reason for reason in reasons)):
            reasons.append("both selectors sit in ONE peer, so both must match (AND); written as two peers "
                           "(two '-' items) they would mean either (OR)")
        return PeerResult(peer.index, distance == 0, description, tuple(reasons), distance)

    def _port_result(self, entry: CompiledPort, traffic: Traffic, destination: Endpoint) -> PortResult:
        description = entry.describe()
        if self.port_matches(entry, traffic, destination):
            if isinstance(entry.port, str):
                return PortResult(entry.index, True, description,
                                  f"{entry.port} is {traffic} on {destination}")
            return PortResult(entry.index, True, description, "")
        if entry.protocol != traffic.protocol:
            return PortResult(entry.index, False, description, f"protocol {entry.protocol}, not {traffic.protocol}")
        if isinstance(entry.port, str):
            number = resolve_port(destination, entry.port, entry.protocol)
            if number is None:
                return PortResult(entry.index, False, description,
                                  f"{destination} has no {entry.protocol} container port named {entry.port!r}")
            return PortResult(entry.index, False, description,
                              f"{entry.port} is {number}/{entry.protocol} on {destination}, not {traffic.port}")
        return PortResult(entry.index, False, description, f"{traffic.port} is not {description}")

    def _rule_result(self, direction: str, rule: CompiledRule, policy: CompiledPolicy, remote: Endpoint,
                     traffic: Traffic, destination: Endpoint) -> RuleResult:
        peers = tuple(self._peer_result(p, remote, policy.namespace) for p in rule.peers or ())
        ports = tuple(self._port_result(p, traffic, destination) for p in rule.ports or ())
        peers_match = rule.peers is None or any(p.matched for p in peers)
        ports_match = rule.ports is None or any(p.matched for p in ports)
        admits = peers_match and ports_match
        side = "from" if direction == INGRESS else "to"
        parts = []
        if rule.peers is None:
            parts.append(f"no '{side}': every {'source' if direction == INGRESS else 'destination'}")
        elif peers_match:
            matched = next(p for p in peers if p.matched)
            parts.append(f"peer {matched.index + 1} ({matched.description}) matches: " + "; ".join(matched.reasons))
        else:
            for peer in peers:
                parts.append(f"peer {peer.index + 1} ({peer.description}) does not match: " + "; ".join(peer.reasons))
        if rule.ports is None:
            parts.append("no 'ports': every port")
        elif ports_match:
            matched_port = next(p for p in ports if p.matched)
            parts.append(f"port {matched_port.description} matches"
                         + (f" ({matched_port.reason})" if matched_port.reason else ""))
        else:
            parts.append("no port matches " + str(traffic) + ": " + "; ".join(p.reason for p in ports))
        peer_distance = 0 if peers_match else min(p.distance for p in peers)
        distance = peer_distance + (0 if ports_match else 1)
        verdict = "admits it" if admits else "does not admit it"
        return RuleResult(rule.index, admits, peers_match, ports_match, peers, ports,
                          f"{verdict}: " + "; ".join(parts), distance)

    def explain_direction(self, direction: str, subject: Endpoint, remote: Endpoint,
                          traffic: Traffic) -> DirectionResult:
        """One direction in full: the selecting policies, each rule judged, the smallest change."""
        policies = self.selecting(subject, direction)
        word = "ingress" if direction == INGRESS else "egress"
        if not policies:
            return DirectionResult(direction, subject, remote, traffic, True, False, (),
                                   f"no NetworkPolicy selects {subject} for {word}: {word} is open")
        destination = subject if direction == INGRESS else remote
        results = []
        for policy in policies:
            rules = tuple(self._rule_result(direction, rule, policy, remote, traffic, destination)
                          for rule in policy.rules(direction))
            note = ""
            if not rules:
                note = f"it has no {word} rules: it only isolates"
            elif policy.problems:
                note = "invalid parts match nothing: " + "; ".join(policy.problems)
            results.append(PolicyResult(policy.ref, direction, any(r.admits for r in rules), rules, note))
        names = ", ".join(p.ref.name for p in policies)
        if self.own_node(subject, remote, direction):
            return DirectionResult(direction, subject, remote, traffic, True, True, tuple(results),
                                   f"{remote} is {subject}'s own node: its traffic is always allowed in, "
                                   f"whatever {names} say")
        admitting = [p for p in results if p.admits]
        if admitting:
            reason = (f"{word} of {subject} is isolated by {len(policies)} polic{'y' if len(policies) == 1 else 'ies'}"
                      f" ({names}); {admitting[0].policy.name} admits {remote} on {traffic}")
            return DirectionResult(direction, subject, remote, traffic, True, True, tuple(results), reason)
        reason = (f"{word} of {subject} is isolated by {names}, and no rule of "
                  f"{'it' if len(policies) == 1 else 'any of them'} admits {remote} on {traffic}")
        result = DirectionResult(direction, subject, remote, traffic, False, True, tuple(results), reason)
        policy_by_ref = {p.ref: p for p in policies}
        return DirectionResult(direction, subject, remote, traffic, False, True, tuple(results), reason,
                               suggest(result, policy_by_ref))

    def verdict(self, source: Endpoint, destination: Endpoint, traffic: Traffic) -> Verdict:
        """Both directions explained."""
        ingress = self.explain_direction(INGRESS, destination, source, traffic)
        egress = self.explain_direction(EGRESS, source, destination, traffic) if source.kind == "pod" else None
        notes = []
        if source.kind == "node" or source.host_network:
            notes.append("the client uses the host network: policies see its node's IP, and how they treat "
                         "host-network traffic is up to the network plugin (traffic from the Pod's own node "
                         "is always allowed)")
        return Verdict(source, destination, traffic, ingress, egress, tuple(notes))


# -- the smallest change ---------------------------------------------------------------------


def identity_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels a policy should select a Pod by: its app labels, else every stable label."""
    stable = {k: v for k, v in labels.items() if k not in VOLATILE_LABELS}
    chosen = {k: stable[k] for k in IDENTITY_LABELS if k in stable}
    if chosen:
        first = next(iter(chosen))
        return {first: chosen[first]}
    return stable


def peer_for(remote: Endpoint, policy_namespace: str) -> dict[str, Any]:
    """A ``from`` / ``to`` peer that matches exactly ``remote`` (by its identity, not its address)."""
    if remote.kind != "pod":
        ip = remote.ips[0] if remote.ips else "0.0.0.0"
        prefix = 128 if ":" in ip else 32
        return {"ipBlock": {"cidr": f"{ip}/{prefix}"}}
    labels = identity_labels(remote.label_map)
    peer: dict[str, Any] = {}
    if remote.namespace != policy_namespace:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": remote.namespace}}
    peer["podSelector"] = {"matchLabels": labels} if labels else {}
    return peer


def port_for(traffic: Traffic) -> dict[str, Any]:
    return {"protocol": traffic.protocol, "port": traffic.port}


def _dump(header: str, rule: Mapping[str, Any]) -> str:
    body = yaml.safe_dump([dict(rule)], sort_keys=False, default_flow_style=False).rstrip()
    return f"{header}\n{body}"


def suggest(result: DirectionResult, policies: Mapping[Any, CompiledPolicy]) -> Suggestion | None:
    """The smallest change to the nearest policy that would admit the denied connection."""
    nearest = result.nearest
    if nearest is None:
        return None
    policy_result, rule_result = nearest
    policy = policies[policy_result.policy]
    direction = result.direction
    field = "ingress" if direction == INGRESS else "egress"
    side = "from" if direction == INGRESS else "to"
    remote = result.remote
    name, namespace = policy.ref.name, policy.ref.namespace
    edit = f"# kubectl edit networkpolicy {name} -n {namespace}"
    who = "the client" if direction == INGRESS else "the destination"
    if rule_result is None or rule_result.distance >= NEVER:
        new_rule = {side: [peer_for(remote, namespace)], "ports": [port_for(result.traffic)]}
        return Suggestion(policy.ref, direction,
                          f"append a rule to spec.{field} of {name} that admits {remote} on {result.traffic}",
                          _dump(f"{edit}  — append to spec.{field}:", new_rule))
    rule = policy.rules(direction)[rule_result.index]
    changed: dict[str, Any] = dict(rule.raw)
    where = f"{field} rule {rule_result.index + 1} of {name}"
    header = f"{edit}  — spec.{field}[{rule_result.index}] becomes:"
    alternative = ""
    if rule_result.peers_match:
        changed["ports"] = [*k8s.as_list(rule.raw.get("ports")), port_for(result.traffic)]
        return Suggestion(policy.ref, direction, f"add port {result.traffic} to {where}", _dump(header, changed))
    nearest_peer = min(rule_result.peers, key=lambda p: (p.distance, p.index))
    if remote.kind == "pod" and nearest_peer.distance == 1 and rule.peers is not None:
        peer = rule.peers[nearest_peer.index]
        if peer.pod_selector is not None and peer.cidr is None:
            failing = _failing(peer.pod_selector, remote.label_map)
            if len(failing) == 1 and failing[0].equality_value() is not None:
                requirement = failing[0]
                alternative = (f"give {who} the label {requirement.key}={requirement.equality_value()} "
                               f"(kubectl label pod {remote.name} -n {remote.namespace} "
                               f"{requirement.key}={requirement.equality_value()} --overwrite; "
                               "put it in the workload's Pod template to keep it)")
    if rule.peers is not None and any("(AND)" in reason for reason in nearest_peer.reasons):
        split = ("if either was meant (OR), split peer "
                 f"{nearest_peer.index + 1} into two items, '- namespaceSelector: …' and '- podSelector: …' "
                 "(that admits more: every Pod of those namespaces)")
        alternative = f"{alternative}; or, {split}" if alternative else split
    changed[side] = [*k8s.as_list(rule.raw.get(side)), peer_for(remote, namespace)]
    change = f"add a peer for {remote} to {where}"
    if not rule_result.ports_match:
        changed["ports"] = [*k8s.as_list(rule.raw.get("ports")), port_for(result.traffic)]
        change += f" and port {result.traffic}"
    if remote.kind == "pod" and not remote.label_map:
        alternative = f"{remote} has no labels: label it first, or the peer selects every Pod of its namespace"
    return Suggestion(policy.ref, direction, change, _dump(header, changed), alternative)
