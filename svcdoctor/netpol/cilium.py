"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy at L3/L4.

Semantics encoded here (Cilium's policy language, ``cilium.io/v2``):

- a policy holds one rule in ``spec`` or several in ``specs``; a rule applies to the endpoints its
  ``endpointSelector`` selects — in the policy's own namespace for a CiliumNetworkPolicy, in every
  namespace for a clusterwide one (``nodeSelector`` rules are host policies: not evaluated here);
- selector keys may carry a source prefix (``k8s:``, ``any:``); ``io.kubernetes.pod.namespace``
  is the Pod's namespace, ``io.cilium.k8s.namespace.labels.KEY`` a label of it,
  ``io.cilium.k8s.policy.serviceaccount`` the Pod's ServiceAccount. In a namespaced policy a
  ``fromEndpoints``/``toEndpoints`` selector that does not name the namespace means the policy's own;
- default deny: a rule that selects an endpoint and has ``ingress``/``ingressDeny`` (``egress``/
  ``egressDeny``) rules puts that direction into default deny, unless ``enableDefaultDeny`` says
  false for it; then only what some allow rule admits passes, and a matching deny rule wins over
  every allow (Kubernetes NetworkPolicies join the same allow set: see :mod:`svcdoctor.netpol.tiers`);
- in one allow rule the L3 part (``fromEndpoints``, ``fromEntities``, ``fromCIDR``, ``fromCIDRSet``,
  ``fromRequires`` ANDed) and the L4 part (``toPorts``) must both match; a rule with ``toPorts``
  only admits every peer on those ports; an empty rule (``- {}``) admits nothing;
- entities: ``world`` (outside the cluster), ``cluster``, ``host`` (the endpoint's own node and its
  host-network Pods), ``remote-node``, ``all``; ``kube-apiserver`` and the rest are not evaluated;
- CIDR rules match only addresses outside the cluster (not Pods or nodes), as Cilium's default;
- ``toPorts[].rules`` (HTTP, Kafka, DNS) are L7: their L4 part is evaluated, the L7 part is
  reported as "not evaluated", never guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.netpol.interface import EGRESS, INGRESS, Endpoint, Traffic
from svcdoctor.selectors import NOTHING, Requirement, Selector, SelectorError, from_label_selector
from svcdoctor.snapshot import Snapshot

NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount"
CLUSTER_KEY = "io.cilium.k8s.policy.cluster"
#: The namespace labels a Pod's Cilium identity carries under this name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ENTITIES = ("world", "cluster", "host", "remote-node", "all", "kube-apiserver", "health", "init", "ingress",
            "unmanaged", "world-ipv4", "world-ipv6")
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EndpointSelector:
    """A Cilium endpoint selector split into what it asks of the Pod and of its namespace."""

    pods: Selector
    #: Requirements on the namespace's labels (``kubernetes.io/metadata.name`` for its name).
    namespaces: Selector
    #: Whether the selector itself names the namespace (else a namespaced policy adds its own).
    names_namespace: bool
    text: str

    def describe(self) -> str:
        return self.text or "{} (every endpoint)"


@dataclass(frozen=True)
class CiliumPort:
    protocol: str
    #: A number, a container port name, or None (every port).
    port: int | str | None
    end_port: int | None = None

    def describe(self) -> str:
        if self.port is None:
            return f"every {self.protocol} port"
        if self.end_port:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class CiliumRule:
    """One entry of ``ingress``, ``ingressDeny``, ``egress`` or ``egressDeny``."""

    index: int
    #: ``ingress`` | ``ingressDeny`` | ``egress`` | ``egressDeny``.
    section: str
    endpoints: tuple[EndpointSelector, ...] | None
    requires: tuple[EndpointSelector, ...]
    entities: tuple[str, ...] | None
    cidrs: tuple[tuple[Network, tuple[Network, ...]], ...] | None
    #: None: no ``toPorts`` (every port).
    ports: tuple[CiliumPort, ...] | None
    #: L7 rule kinds under ``toPorts[].rules`` (``http``, ``kafka``, ``dns``…): not evaluated.
    l7: tuple[str, ...] = ()
    #: Peer fields svcdoctor does not evaluate (``fromGroups``, ``toFQDNs``, ``toServices``…).
    unevaluated: tuple[str, ...] = ()

    @property
    def deny(self) -> bool:
        return self.section.endswith("Deny")

    @property
    def has_l3(self) -> bool:
        return self.endpoints is not None or self.entities is not None or self.cidrs is not None

    def describe(self) -> str:
        side = "from" if self.section.startswith("ingress") else "to"
        parts = []
        if self.endpoints is not None:
            parts.append(f"{side}Endpoints " + " or ".join(s.describe() for s in self.endpoints))
        if self.entities is not None:
            parts.append(f"{side}Entities {', '.join(self.entities)}")
        if self.cidrs is not None:
            parts.append(f"{side}CIDR " + ", ".join(str(c[0]) for c in self.cidrs))
        if self.ports is not None:
            parts.append("toPorts " + ", ".join(p.describe() for p in self.ports))
        return "; ".join(parts) or "an empty rule"


@dataclass(frozen=True, eq=False)
class CiliumPolicyRule:
    """One rule (``spec`` or one item of ``specs``) of a policy."""

    ref: ObjectRef
    #: Position in ``specs`` (0 for ``spec``), and whether it came from ``specs``.
    position: int
    in_specs: bool
    #: "" for a clusterwide policy.
    namespace: str
    selector: EndpointSelector | None
    rules: Mapping[str, tuple[CiliumRule, ...]]
    default_deny: Mapping[str, bool]
    problems: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.ref.kind} {self.ref.namespace + '/' if self.ref.namespace else ''}{self.ref.name}" + (
            f" specs[{self.position}]" if self.in_specs else "")


def _strip(key: str) -> str:
    for prefix in ("k8s:", "any:", "container:"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _split_requirement(requirement: Requirement, pods: list[Requirement], namespaces: list[Requirement],
                       notes: list[str]) -> bool:
    """File one requirement under the Pod or its namespace; True when it names the namespace."""
    key = _strip(requirement.key)
    if key == NAMESPACE_KEY:
        namespaces.append(Requirement(NAMESPACE_NAME_LABEL, requirement.operator, requirement.values))
        return True
    if key.startswith(NAMESPACE_LABEL_PREFIX):
        namespaces.append(Requirement(key[len(NAMESPACE_LABEL_PREFIX):], requirement.operator, requirement.values))
        return False
    if key == CLUSTER_KEY:
        notes.append(f"{requirement} (the cluster name) is taken to hold: svcdoctor sees one cluster")
        return False
    pods.append(Requirement(key, requirement.operator, requirement.values))
    return False


def endpoint_selector(raw: Any, problems: list[str]) -> EndpointSelector:
    """Read one Cilium endpoint selector; an unreadable one selects nothing."""
    entry = k8s.as_map(raw)
    cleaned = {"matchLabels": {_strip(str(k)): v for k, v in k8s.as_map(entry.get("matchLabels")).items()},
               "matchExpressions": [
                   {**k8s.as_map(e), "key": _strip(str(k8s.as_map(e).get("key") or ""))}
                   for e in k8s.as_list(entry.get("matchExpressions"))]}
    try:
        parsed = from_label_selector(cleaned)
    except SelectorError as error:
        problems.append(f"selector: {error}")
        return EndpointSelector(NOTHING, NOTHING, True, "an invalid selector")
    pods: list[Requirement] = []
    namespaces: list[Requirement] = []
    notes: list[str] = []
    names = False
    for requirement in parsed.requirements:
        names = _split_requirement(requirement, pods, namespaces, notes) or names
    problems.extend(notes)
    return EndpointSelector(Selector(tuple(pods)), Selector(tuple(namespaces)), names,
                            "" if parsed.is_everything else str(parsed))


def _port(raw: Any) -> CiliumPort:
    entry = k8s.as_map(raw)
    protocol = str(entry.get("protocol") or "ANY").upper()
    value = entry.get("port")
    text = "" if value is None else str(value)
    port: int | str | None
    if text in ("", "0"):
        port = None
    elif text.isdigit():
        port = int(text)
    else:
        port = text
    end = entry.get("endPort")
    return CiliumPort(protocol, port, int(end) if isinstance(end, int) and end else None)


def _rule(index: int, section: str, raw: Any, problems: list[str]) -> CiliumRule:
    rule = k8s.as_map(raw)
    side = "from" if section.startswith("ingress") else "to"
    endpoints = (tuple(endpoint_selector(s, problems) for s in k8s.as_list(rule.get(f"{side}Endpoints")))
                 if f"{side}Endpoints" in rule else None)
    requires = tuple(endpoint_selector(s, problems) for s in k8s.as_list(rule.get(f"{side}Requires")))
    entities = (tuple(str(e) for e in k8s.as_list(rule.get(f"{side}Entities")))
                if f"{side}Entities" in rule else None)
    cidrs: list[tuple[Network, tuple[Network, ...]]] = []
    has_cidr = f"{side}CIDR" in rule or f"{side}CIDRSet" in rule
    try:
        for text in k8s.as_list(rule.get(f"{side}CIDR")):
            cidrs.append((ipaddress.ip_network(str(text), strict=False), ()))
        for item in k8s.as_list(rule.get(f"{side}CIDRSet")):
            entry = k8s.as_map(item)
            if entry.get("cidrGroupRef") or entry.get("cidrGroupSelector"):
                problems.append(f"{section} rule {index + 1}: CIDR groups are not evaluated")
                continue
            cidrs.append((ipaddress.ip_network(str(entry.get("cidr")), strict=False),
                          tuple(ipaddress.ip_network(str(e), strict=False) for e in k8s.as_list(entry.get("except")))))
    except ValueError as error:
        problems.append(f"{section} rule {index + 1}: {error}")
    ports: list[CiliumPort] = []
    l7: list[str] = []
    for item in k8s.as_list(rule.get("toPorts")):
        entry = k8s.as_map(item)
        ports.extend(_port(p) for p in k8s.as_list(entry.get("ports")))
        l7.extend(str(kind) for kind, value in k8s.as_map(entry.get("rules")).items() if value)
    unevaluated = tuple(key for key in (f"{side}Groups", f"{side}Nodes", "toFQDNs", "toServices", "icmps")
                        if rule.get(key))
    return CiliumRule(index, section, endpoints, requires, entities, tuple(cidrs) if has_cidr else None,
                      tuple(ports) if "toPorts" in rule else None, tuple(dict.fromkeys(l7)), unevaluated)


def compile_cilium_policy(policy: Obj) -> list[CiliumPolicyRule]:
    """Every rule of one CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy."""
    kind = str(policy.get("kind") or "")
    namespace = k8s.namespace(policy) if kind == "CiliumNetworkPolicy" else ""
    ref = ObjectRef(kind, namespace, k8s.name(policy))
    items: list[tuple[Any, bool]] = []
    if isinstance(policy.get("spec"), Mapping):
        items.append((policy["spec"], False))
    items += [(item, True) for item in k8s.as_list(policy.get("specs"))]
    compiled = []
    for position, (raw, in_specs) in enumerate(items):
        spec = k8s.as_map(raw)
        problems: list[str] = []
        selector = None
        if "endpointSelector" in spec:
            selector = endpoint_selector(spec.get("endpointSelector"), problems)
        elif "nodeSelector" in spec:
            problems.append("a nodeSelector rule is a host policy: not evaluated")
        rules: dict[str, tuple[CiliumRule, ...]] = {}
        for section in ("ingress", "ingressDeny", "egress", "egressDeny"):
            rules[section] = tuple(_rule(i, section, r, problems) for i, r in enumerate(k8s.as_list(spec.get(section))))
        switches = k8s.as_map(spec.get("enableDefaultDeny"))
        default_deny = {}
        for direction, sections in ((INGRESS, ("ingress", "ingressDeny")), (EGRESS, ("egress", "egressDeny"))):
            has_rules = any(rules[s] for s in sections)
            switch = switches.get(direction)
            default_deny[direction] = has_rules and (switch is not False)
        compiled.append(CiliumPolicyRule(ref, position if in_specs else 0, in_specs, namespace, selector, rules,
                                         default_deny, tuple(problems)))
    return compiled


# -- deciding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CiliumMatch:
    """One Cilium rule that matched the connection (or the nearest one that did not)."""

    policy: CiliumPolicyRule
    rule: CiliumRule
    reason: str

    @property
    def where(self) -> str:
        return f"{self.rule.section} rule {self.rule.index + 1} of {self.policy.where}"


@dataclass(frozen=True)
class CiliumDecision:
    """What the Cilium policies selecting the subject say about one direction."""

    direction: str
    #: Whether some selecting rule puts this direction into default deny.
    enforced: bool
    #: The policies (rules) that select the subject.
    selecting: tuple[CiliumPolicyRule, ...] = ()
    allowed_by: CiliumMatch | None = None
    denied_by: CiliumMatch | None = None
    #: Why each allow rule of the selecting policies did not admit (the explanation).
    misses: tuple[CiliumMatch, ...] = ()
    #: L7 rules on the admitting rule, and fields not evaluated: said, never guessed.
    notes: tuple[str, ...] = ()


def _in(ip: str, network: Network) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.version == network.version and address in network


class CiliumEvaluator:
    """Decides Cilium's L3/L4 policies over one Snapshot."""

    def __init__(self, snapshot: Snapshot, objects: list[Obj] | None = None) -> None:
        self.snapshot = snapshot
        raw = objects if objects is not None else [*snapshot.cilium_network_policies,
                                                   *snapshot.cilium_clusterwide_network_policies]
        self.rules: list[CiliumPolicyRule] = [rule for policy in raw for rule in compile_cilium_policy(policy)]
        self._by_namespace: dict[str, list[CiliumPolicyRule]] = {}
        self._clusterwide: list[CiliumPolicyRule] = []
        for rule in self.rules:
            if rule.selector is None:
                continue
            if rule.namespace:
                self._by_namespace.setdefault(rule.namespace, []).append(rule)
            else:
                self._clusterwide.append(rule)
        self._selecting: dict[tuple[str, tuple[tuple[str, str], ...], str], tuple[CiliumPolicyRule, ...]] = {}
        self._node_ips: set[str] | None = None

    @property
    def empty(self) -> bool:
        return not self.rules

    def identity(self, endpoint: Endpoint) -> dict[str, str]:
        """A Pod's labels as Cilium sees them: its own plus its ServiceAccount."""
        labels = endpoint.label_map
        pod = self.snapshot.pod(endpoint.namespace, endpoint.name)
        if pod is not None:
            labels[SERVICE_ACCOUNT_KEY] = str(k8s.spec(pod).get("serviceAccountName") or "default")
        return labels

    def _selects(self, selector: EndpointSelector, endpoint: Endpoint, policy_namespace: str) -> bool:
        if endpoint.kind != "pod" or endpoint.host_network:
            return False
        if policy_namespace and not selector.names_namespace and endpoint.namespace != policy_namespace:
            return False
        if not selector.namespaces.is_everything and not selector.namespaces.matches(
                self.snapshot.namespace_labels(endpoint.namespace)):
            return False
        return selector.pods.matches(self.identity(endpoint))

    def selecting(self, subject: Endpoint) -> tuple[CiliumPolicyRule, ...]:
        if subject.kind != "pod" or subject.host_network:
            return ()
        key = (subject.namespace, subject.labels, subject.name)
        cached = self._selecting.get(key)
        if cached is None:
            candidates = [*self._by_namespace.get(subject.namespace, ()), *self._clusterwide]
            cached = tuple(r for r in candidates if r.selector is not None
                           and self._selects(r.selector, subject, r.namespace))
            self._selecting[key] = cached
        return cached

    def _cluster_ip(self, ip: str) -> bool:
        if self._node_ips is None:
            self._node_ips = {str(a.get("address")) for node in self.snapshot.nodes
                              for a in k8s.as_list(k8s.status(node).get("addresses"))
                              if isinstance(a, Mapping) and a.get("address")}
        return ip in self._node_ips or bool(self.snapshot.pods_with_ip(ip))

    def _entity(self, entity: str, subject: Endpoint, remote: Endpoint) -> bool:
        in_cluster = remote.kind in ("pod", "node") or any(self._cluster_ip(ip) for ip in remote.ips)
        on_host = remote.kind == "node" or remote.host_network
        if entity == "all":
            return True
        if entity in ("world", "world-ipv4", "world-ipv6"):
            if in_cluster:
                return False
            if entity == "world":
                return True
            return any(ip.count(":") == 0 for ip in remote.ips) == (entity == "world-ipv4")
        if entity == "cluster":
            return in_cluster
        if entity == "host":
            return on_host and remote.node == subject.node
        if entity == "remote-node":
            return on_host and remote.node != subject.node
        return False

    def _l3(self, rule: CiliumRule, policy: CiliumPolicyRule, subject: Endpoint, remote: Endpoint) -> tuple[bool, str]:
        if rule.requires and not all(self._selects(s, remote, policy.namespace) for s in rule.requires):
            return False, f"{remote} lacks what its Requires selectors demand"
        if not rule.has_l3:
            if rule.ports is None and not rule.requires:
                return False, "an empty rule admits nothing"
            return True, "no L3 selector: every peer"
        reasons = []
        for selector in rule.endpoints or ():
            if self._selects(selector, remote, policy.namespace):
                return True, f"{remote} matches endpoint selector {selector.describe()}"
            where = (f" in namespace {policy.namespace}" if policy.namespace and not selector.names_namespace else "")
            reasons.append(f"{remote} does not match endpoint selector {selector.describe()}{where}")
        for entity in rule.entities or ():
            if self._entity(entity, subject, remote):
                return True, f"{remote} is entity {entity}"
            reasons.append(f"{remote} is not entity {entity}")
        for network, excepts in rule.cidrs or ():
            inside = [ip for ip in remote.ips if _in(ip, network) and not any(_in(ip, e) for e in excepts)]
            if not inside:
                reasons.append(f"{', '.join(remote.ips) or 'no address'} is not in {network}")
            elif remote.kind != "ip" or self._cluster_ip(inside[0]):
                reasons.append(f"{inside[0]} is in {network}, but CIDR rules do not match Pods or nodes")
            else:
                return True, f"{inside[0]} is in {network}"
        return False, "; ".join(reasons) or "no peer matches"

    @staticmethod
    def _l4(rule: CiliumRule, traffic: Traffic, destination: Endpoint) -> tuple[bool, str]:
        if rule.ports is None:
            return True, ""
        for port in rule.ports:
            if port.protocol not in ("ANY", traffic.protocol):
                continue
            if port.port is None:
                return True, f"{port.describe()} matches"
            if isinstance(port.port, str):
                if any(d.name == port.port and d.number == traffic.port for d in destination.ports):
                    return True, f"port {port.port} is {traffic} on {destination}"
                continue
            if port.port <= traffic.port <= (port.end_port or port.port):
                return True, f"port {port.describe()} matches"
        return False, f"{traffic} is not one of {', '.join(p.describe() for p in rule.ports) or 'no port'}"

    def judge(self, policy: CiliumPolicyRule, rule: CiliumRule, subject: Endpoint, remote: Endpoint,
              traffic: Traffic, destination: Endpoint) -> tuple[bool, str]:
        l4, l4_reason = self._l4(rule, traffic, destination)
        if not l4:
            return False, l4_reason
        l3, l3_reason = self._l3(rule, policy, subject, remote)
        return l3, "; ".join(r for r in (l3_reason, l4_reason) if r)

    def decide(self, direction: str, subject: Endpoint, remote: Endpoint, traffic: Traffic) -> CiliumDecision:
        selecting = self.selecting(subject)
        if not selecting:
            return CiliumDecision(direction, False)
        destination = subject if direction == INGRESS else remote
        allow_section, deny_section = (("ingress", "ingressDeny") if direction == INGRESS else ("egress", "egressDeny"))
        enforced = any(p.default_deny[direction] for p in selecting)
        allowed_by = denied_by = None
        misses: list[CiliumMatch] = []
        notes: list[str] = []
        for policy in selecting:
            notes.extend(f"{policy.where}: {problem}" for problem in policy.problems)
            for rule in policy.rules[deny_section]:
                matched, reason = self.judge(policy, rule, subject, remote, traffic, destination)
                if matched and denied_by is None:
                    denied_by = CiliumMatch(policy, rule, reason)
            for rule in policy.rules[allow_section]:
                matched, reason = self.judge(policy, rule, subject, remote, traffic, destination)
                if rule.unevaluated:
                    notes.append(f"{allow_section} rule {rule.index + 1} of {policy.where}: "
                                 f"{', '.join(rule.unevaluated)} not evaluated")
                if matched and allowed_by is None:
                    allowed_by = CiliumMatch(policy, rule, reason)
                    if rule.l7:
                        notes.append(f"{allow_section} rule {rule.index + 1} of {policy.where} admits it at L4, but "
                                     f"its L7 rules ({', '.join(rule.l7)}) are not evaluated: requests they do not "
                                     "allow are refused (HTTP 403, or dropped)")
                elif not matched:
                    misses.append(CiliumMatch(policy, rule, reason))
        return CiliumDecision(direction, enforced, selecting, allowed_by, denied_by, tuple(misses),
                              tuple(dict.fromkeys(notes)))

