"""Admin-tier policies: AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy.

Read once into one model (:class:`AdminPolicy`), whatever the API version:

- ``policy.networking.k8s.io/v1alpha1`` (network-policy-api v0.1.x, served by OVN-Kubernetes,
  OpenShift, Calico and older Antrea): AdminNetworkPolicy (tier Admin, ``spec.priority``, actions
  Allow / Deny / Pass) and the singleton BaselineAdminNetworkPolicy ``default`` (tier Baseline,
  actions Allow / Deny); ports as ``portNumber`` / ``namedPort`` / ``portRange``;
- ``v1alpha2`` (v0.2.0): ClusterNetworkPolicy with ``spec.tier`` Admin or Baseline, actions
  Accept / Deny / Pass, ports as ``protocols`` (``tcp``/``udp``/``sctp`` ``destinationPort`` number
  or range, ``destinationNamedPort``).

What the API defines and this module encodes: a policy applies to the Pods its ``subject`` selects
(``namespaces``, or ``pods`` = namespaceSelector AND podSelector; host-network Pods never); within
a tier policies are taken by ascending priority, rules in the order written, and the first rule
whose peers and ports match decides (Allow/Accept, Deny, or Pass to the next tier). A peer with no
field svcdoctor knows "fails closed" as the API says: it matches nothing in an Allow rule and
everything in a Deny or Pass rule. ``domainNames`` peers name DNS names, not addresses: they are
not evaluated (said, never guessed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.netpol.interface import EGRESS, INGRESS, Endpoint, Traffic
from svcdoctor.selectors import NOTHING, Selector, SelectorError, from_label_selector
from svcdoctor.snapshot import Snapshot

ADMIN = "Admin"
BASELINE = "Baseline"
ALLOW = "Allow"
DENY = "Deny"
PASS = "Pass"
#: The kinds read here, with the tier each one sits in ("" = ``spec.tier`` says).
ADMIN_KINDS = {"AdminNetworkPolicy": ADMIN, "BaselineAdminNetworkPolicy": BASELINE, "ClusterNetworkPolicy": ""}
_LABEL_SELECTOR_KEYS = frozenset({"matchLabels", "matchExpressions"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AdminPeer:
    """One entry of a rule's ``from`` / ``to``: exactly one of its fields is set."""

    index: int
    #: ``namespaces`` | ``pods`` | ``nodes`` | ``networks`` | ``domainNames`` | ``unknown``.
    kind: str
    namespace_selector: Selector | None = None
    pod_selector: Selector | None = None
    node_selector: Selector | None = None
    networks: tuple[Network, ...] = ()
    #: Why the peer cannot be read as written ("" when it can): it then fails closed.
    problem: str = ""

    def describe(self) -> str:
        if self.kind == "namespaces":
            return f"namespaces {_text(self.namespace_selector)}"
        if self.kind == "pods":
            return f"pods {_text(self.pod_selector)} in namespaces {_text(self.namespace_selector)}"
        if self.kind == "nodes":
            return f"nodes {_text(self.node_selector)}"
        if self.kind == "networks":
            return "networks " + ", ".join(str(n) for n in self.networks)
        if self.kind == "domainNames":
            return "domainNames (not evaluated)"
        return f"unreadable peer ({self.problem})"


@dataclass(frozen=True)
class AdminPort:
    """One port entry: a number or range of a protocol, or a container port name."""

    index: int
    protocol: str
    start: int | None = None
    end: int | None = None
    name: str = ""

    def describe(self) -> str:
        if self.name:
            return f"named port {self.name}"
        if self.start is None:
            return f"every {self.protocol} port"
        if self.end is not None and self.end != self.start:
            return f"{self.start}-{self.end}/{self.protocol}"
        return f"{self.start}/{self.protocol}"


@dataclass(frozen=True, eq=False)
class AdminRule:
    index: int
    name: str
    #: ``Allow`` | ``Deny`` | ``Pass`` (v1alpha2's ``Accept`` is read as Allow).
    action: str
    #: The action as written (``Accept`` stays ``Accept`` in messages).
    written_action: str
    peers: tuple[AdminPeer, ...]
    #: None: every port.
    ports: tuple[AdminPort, ...] | None

    def label(self, direction: str) -> str:
        named = f" {self.name!r}" if self.name else ""
        return f"{direction} rule {self.index + 1}{named} ({self.written_action})"


@dataclass(frozen=True, eq=False)
class AdminPolicy:
    ref: ObjectRef
    raw: Obj
    tier: str
    priority: int
    subject_namespaces: Selector
    #: None when the subject is ``namespaces`` (every Pod of those namespaces).
    subject_pods: Selector | None
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]
    problems: tuple[str, ...] = ()

    def rules(self, direction: str) -> tuple[AdminRule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    @property
    def title(self) -> str:
        where = f" priority {self.priority}" if self.tier == ADMIN else ""
        return f"{self.ref.kind} {self.ref.name} (tier {self.tier}{where})"

    def describe_subject(self) -> str:
        if self.subject_pods is None:
            return f"Pods of namespaces {_text(self.subject_namespaces)}"
        return f"pods {_text(self.subject_pods)} in namespaces {_text(self.subject_namespaces)}"


def _text(selector: Selector | None) -> str:
    if selector is None or selector.is_everything:
        return "{} (all)"
    return str(selector)


def _selector(value: Any, what: str, problems: list[str]) -> Selector:
    if not isinstance(value, Mapping):
        return from_label_selector({})
    unknown = set(value) - _LABEL_SELECTOR_KEYS
    if unknown:
        problems.append(f"{what} has fields svcdoctor does not read ({', '.join(sorted(unknown))})")
        return NOTHING
    try:
        return from_label_selector(value)
    except SelectorError as error:
        problems.append(f"{what}: {error}")
        return NOTHING


def _peer(index: int, raw: Any, problems: list[str]) -> AdminPeer:
    entry = k8s.as_map(raw)
    known = [key for key in ("namespaces", "pods", "nodes", "networks", "domainNames") if key in entry]
    if len(known) != 1:
        reason = "no namespaces, pods, nodes or networks" if not known else "more than one field"
        return AdminPeer(index, "unknown", problem=reason)
    kind = known[0]
    local: list[str] = []
    if kind == "namespaces":
        peer = AdminPeer(index, kind, namespace_selector=_selector(entry[kind], "namespaces", local))
    elif kind == "pods":
        pods = k8s.as_map(entry[kind])
        peer = AdminPeer(index, kind,
                         namespace_selector=_selector(pods.get("namespaceSelector"), "pods.namespaceSelector", local),
                         pod_selector=_selector(pods.get("podSelector"), "pods.podSelector", local))
    elif kind == "nodes":
        peer = AdminPeer(index, kind, node_selector=_selector(entry[kind], "nodes", local))
    elif kind == "networks":
        networks = []
        for text in k8s.as_list(entry[kind]):
            try:
                networks.append(ipaddress.ip_network(str(text), strict=False))
            except ValueError as error:
                local.append(f"networks: {error}")
        peer = AdminPeer(index, kind, networks=tuple(networks))
    else:
        peer = AdminPeer(index, kind)
    if local:
        problems.extend(local)
        return AdminPeer(index, "unknown", problem="; ".join(local))
    return peer


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ports_v1alpha1(items: list[Any]) -> tuple[AdminPort, ...]:
    ports = []
    for index, raw in enumerate(items):
        entry = k8s.as_map(raw)
        if "namedPort" in entry:
            ports.append(AdminPort(index, "", name=str(entry["namedPort"])))
        elif "portRange" in entry:
            span = k8s.as_map(entry["portRange"])
            ports.append(AdminPort(index, str(span.get("protocol") or "TCP").upper(),
                                   _number(span.get("start")), _number(span.get("end"))))
        else:
            number = k8s.as_map(entry.get("portNumber"))
            port = _number(number.get("port"))
            ports.append(AdminPort(index, str(number.get("protocol") or "TCP").upper(), port, port))
    return tuple(ports)


def _ports_v1alpha2(items: list[Any]) -> tuple[AdminPort, ...]:
    ports = []
    for index, raw in enumerate(items):
        entry = k8s.as_map(raw)
        if entry.get("destinationNamedPort"):
            ports.append(AdminPort(index, "", name=str(entry["destinationNamedPort"])))
            continue
        for protocol in ("tcp", "udp", "sctp"):
            if protocol in entry:
                destination = k8s.as_map(k8s.as_map(entry[protocol]).get("destinationPort"))
                if "range" in destination:
                    span = k8s.as_map(destination["range"])
                    ports.append(AdminPort(index, protocol.upper(), _number(span.get("start")),
                                           _number(span.get("end"))))
                else:
                    number = _number(destination.get("number"))
                    ports.append(AdminPort(index, protocol.upper(), number, number))
    return tuple(ports)


def _rule(index: int, raw: Any, peers_key: str, ports_key: str, problems: list[str]) -> AdminRule:
    rule = k8s.as_map(raw)
    written = str(rule.get("action") or "")
    action = ALLOW if written in ("Allow", "Accept") else written
    if action not in (ALLOW, DENY, PASS):
        problems.append(f"rule {index + 1}: action {written!r} is not Allow, Accept, Deny or Pass")
    peers = tuple(_peer(i, item, problems) for i, item in enumerate(k8s.as_list(rule.get(peers_key))))
    port_items = k8s.as_list(rule.get(ports_key))
    if ports_key == "protocols":
        ports = _ports_v1alpha2(port_items) if port_items else None
    else:
        ports = _ports_v1alpha1(port_items) if port_items else None
    return AdminRule(index, str(rule.get("name") or ""), action, written, peers, ports)


def compile_admin_policy(policy: Obj) -> AdminPolicy:
    """Read one AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy."""
    kind = str(policy.get("kind") or "")
    spec = k8s.spec(policy)
    problems: list[str] = []
    tier = ADMIN_KINDS.get(kind) or str(spec.get("tier") or "")
    if tier not in (ADMIN, BASELINE):
        problems.append(f"spec.tier {tier!r} is not Admin or Baseline")
    priority = _number(spec.get("priority"))
    subject = k8s.as_map(spec.get("subject"))
    if "pods" in subject:
        pods = k8s.as_map(subject.get("pods"))
        namespaces = _selector(pods.get("namespaceSelector"), "subject.pods.namespaceSelector", problems)
        pod_selector: Selector | None = _selector(pods.get("podSelector"), "subject.pods.podSelector", problems)
    elif "namespaces" in subject:
        namespaces = _selector(subject.get("namespaces"), "subject.namespaces", problems)
        pod_selector = None
    else:
        problems.append("spec.subject selects neither namespaces nor pods")
        namespaces, pod_selector = NOTHING, None
    ports_key = "protocols" if kind == "ClusterNetworkPolicy" else "ports"
    return AdminPolicy(
        ref=ObjectRef(kind, "", k8s.name(policy)), raw=policy, tier=tier,
        priority=priority if priority is not None else 0,
        subject_namespaces=namespaces, subject_pods=pod_selector,
        ingress=tuple(_rule(i, r, "from", ports_key, problems) for i, r in enumerate(k8s.as_list(spec.get("ingress")))),
        egress=tuple(_rule(i, r, "to", ports_key, problems) for i, r in enumerate(k8s.as_list(spec.get("egress")))),
        problems=tuple(problems),
    )


# -- deciding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleVerdict:
    """One admin rule judged against one connection."""

    policy: AdminPolicy
    rule: AdminRule
    direction: str
    matched: bool
    #: Why it matched or not, in words.
    reason: str

    @property
    def where(self) -> str:
        return f"{self.rule.label(self.direction)} of {self.policy.title}"


@dataclass(frozen=True)
class TierDecision:
    """What one tier says about one direction of a connection."""

    tier: str
    direction: str
    #: ``Allow`` | ``Deny`` | ``Pass``, or "" when no rule of the tier matched (no decision).
    action: str
    #: The rule that decided (None when ``action`` is "").
    decided_by: RuleVerdict | None
    #: The policies of this tier that select the subject, in evaluation order.
    policies: tuple[AdminPolicy, ...] = ()
    #: Every rule looked at before the decision, in order (the explanation).
    considered: tuple[RuleVerdict, ...] = ()
    #: Notes: same-priority ambiguity, peers not evaluated.
    notes: tuple[str, ...] = ()

    def explain(self) -> list[str]:
        lines = []
        for verdict in self.considered:
            lines.append(f"{verdict.where}: {'matches' if verdict.matched else 'does not match'} — {verdict.reason}")
        lines.extend(self.notes)
        return lines


def _in(ip: str, network: Network) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.version == network.version and address in network


class AdminEvaluator:
    """Decides the Admin and Baseline tiers over one Snapshot's admin policies."""

    def __init__(self, snapshot: Snapshot, policies: list[AdminPolicy] | None = None) -> None:
        self.snapshot = snapshot
        compiled = policies if policies is not None else [compile_admin_policy(p) for p in admin_objects(snapshot)]
        self.by_tier: dict[str, list[AdminPolicy]] = {
            tier: sorted((p for p in compiled if p.tier == tier), key=lambda p: (p.priority, p.ref.kind, p.ref.name))
            for tier in (ADMIN, BASELINE)}
        self._selecting: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[AdminPolicy, ...]] = {}
        self._namespace_cache: dict[tuple[int, str], bool] = {}

    @property
    def empty(self) -> bool:
        return not self.by_tier[ADMIN] and not self.by_tier[BASELINE]

    def _namespace_matches(self, selector: Selector, namespace: str) -> bool:
        key = (id(selector), namespace)
        cached = self._namespace_cache.get(key)
        if cached is None:
            cached = self._namespace_cache[key] = selector.matches(self.snapshot.namespace_labels(namespace))
        return cached

    def selecting(self, subject: Endpoint, tier: str) -> tuple[AdminPolicy, ...]:
        """The policies of ``tier`` whose subject holds the Pod (host-network Pods never)."""
        if subject.kind != "pod" or subject.host_network:
            return ()
        key = (tier, subject.namespace, subject.labels)
        cached = self._selecting.get(key)
        if cached is None:
            labels = subject.label_map
            cached = tuple(p for p in self.by_tier[tier]
                           if self._namespace_matches(p.subject_namespaces, subject.namespace)
                           and (p.subject_pods is None or p.subject_pods.matches(labels)))
            self._selecting[key] = cached
        return cached

    def _peer(self, peer: AdminPeer, action: str, remote: Endpoint) -> tuple[bool, str]:
        if peer.kind == "unknown":
            unreadable = f"peer {peer.index + 1} cannot be read ({peer.problem})"
            if action == ALLOW:
                return False, f"{unreadable}: in an Allow rule it matches nothing"
            return True, f"{unreadable}: in a {action} rule it matches everything"
        if peer.kind == "domainNames":
            return False, f"peer {peer.index + 1} names domains, which svcdoctor does not evaluate"
        if peer.kind == "networks":
            for ip in remote.ips:
                for network in peer.networks:
                    if _in(ip, network):
                        return True, f"{ip} is in {network}"
            return False, f"{', '.join(remote.ips) or 'no address'} is in none of {peer.describe()}"
        if peer.kind == "nodes":
            node_name = remote.node if (remote.kind == "node" or remote.host_network) else ""
            if not node_name:
                return False, f"{remote} is not a node"
            node = self.snapshot.node(node_name)
            labels = k8s.labels(node) if node is not None else {}
            assert peer.node_selector is not None
            if peer.node_selector.matches(labels):
                return True, f"node {node_name} matches nodes {_text(peer.node_selector)}"
            return False, f"node {node_name} does not match nodes {_text(peer.node_selector)}"
        if remote.kind != "pod" or remote.host_network:
            return False, f"{remote} is not a Pod on the Pod network: {peer.kind} peers cannot match it"
        assert peer.namespace_selector is not None
        if not self._namespace_matches(peer.namespace_selector, remote.namespace):
            return False, f"namespace {remote.namespace} does not match {_text(peer.namespace_selector)}"
        if peer.pod_selector is not None and not peer.pod_selector.matches(remote.label_map):
            return False, f"Pod {remote} does not match podSelector {_text(peer.pod_selector)}"
        return True, f"{remote} matches {peer.describe()}"

    @staticmethod
    def _port(port: AdminPort, traffic: Traffic, destination: Endpoint) -> bool:
        if port.name:
            return any(declared.name == port.name and declared.number == traffic.port
                       and declared.protocol == traffic.protocol for declared in destination.ports)
        if port.protocol != traffic.protocol:
            return False
        if port.start is None:
            return True
        return port.start <= traffic.port <= (port.end if port.end is not None else port.start)

    def judge(self, policy: AdminPolicy, rule: AdminRule, direction: str, remote: Endpoint, traffic: Traffic,
              destination: Endpoint) -> RuleVerdict:
        """Whether one rule matches the connection, and why (not)."""
        if rule.ports is not None and not any(self._port(p, traffic, destination) for p in rule.ports):
            ports = ", ".join(p.describe() for p in rule.ports)
            return RuleVerdict(policy, rule, direction, False, f"{traffic} is not one of its ports ({ports})")
        reasons = []
        for peer in rule.peers:
            matched, reason = self._peer(peer, rule.action, remote)
            if matched:
                return RuleVerdict(policy, rule, direction, True, reason)
            reasons.append(reason)
        return RuleVerdict(policy, rule, direction, False, "; ".join(reasons) or "it has no peers")

    def decide(self, tier: str, direction: str, subject: Endpoint, remote: Endpoint, traffic: Traffic) -> TierDecision:
        """The first matching rule of ``tier`` for ``subject``'s ``direction`` (ingress: subject is the server)."""
        policies = self.selecting(subject, tier)
        destination = subject if direction == INGRESS else remote
        considered: list[RuleVerdict] = []
        notes: list[str] = []
        for position, policy in enumerate(policies):
            for rule in policy.rules(direction):
                if tier == BASELINE and rule.action == PASS:
                    continue
                verdict = self.judge(policy, rule, direction, remote, traffic, destination)
                considered.append(verdict)
                if any(p.kind == "domainNames" for p in rule.peers):
                    notes.append(f"{verdict.where} names domains: not evaluated")
                if verdict.matched:
                    rivals = [p.ref.name for p in policies[position + 1:]
                              if p.priority == policy.priority and p.tier == ADMIN]
                    if rivals:
                        notes.append(f"{policy.ref.name} shares priority {policy.priority} with "
                                     f"{', '.join(rivals)}: the API lets an implementation apply either")
                    return TierDecision(tier, direction, rule.action, verdict, policies, tuple(considered),
                                        tuple(notes))
        return TierDecision(tier, direction, "", None, policies, tuple(considered), tuple(notes))


def admin_objects(snapshot: Snapshot) -> list[Obj]:
    """Every admin-tier policy object the snapshot holds."""
    return [*snapshot.admin_network_policies, *snapshot.baseline_admin_network_policies,
            *snapshot.cluster_network_policies]


def direction_word(direction: str) -> str:
    return "ingress" if direction == INGRESS else "egress"


__all__ = ["ADMIN", "ALLOW", "BASELINE", "DENY", "EGRESS", "INGRESS", "PASS", "AdminEvaluator", "AdminPolicy",
           "AdminRule", "RuleVerdict", "TierDecision", "compile_admin_policy"]
