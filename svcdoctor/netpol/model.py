"""NetworkPolicy objects read once into compiled rules (selectors parsed, CIDRs parsed, defaults applied).

Kubernetes semantics encoded here, so the evaluator never re-reads raw dicts:

- ``policyTypes`` when given; otherwise ``Ingress`` always, plus ``Egress`` when ``spec.egress``
  has rules (the API server's defaulting);
- a rule without ``from``/``to`` (or with an empty list) admits every peer; without ``ports`` (or an
  empty list) every port; a direction with no rules admits nothing;
- a peer with both ``namespaceSelector`` and ``podSelector`` means both (AND); two peers mean
  either (OR); a ``podSelector`` alone means Pods of the policy's own namespace; ``{}`` selects all;
- ``ipBlock`` with ``except``; a port entry's protocol defaults to TCP, ``endPort`` makes a range,
  and a port name is resolved later against the destination Pod's container ports.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.netpol.interface import EGRESS, INGRESS
from svcdoctor.selectors import NOTHING, Selector, SelectorError, from_label_selector

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, eq=False)
class CompiledPeer:
    """One entry of a rule's ``from`` / ``to`` list."""

    index: int
    raw: Mapping[str, Any]
    #: None when the peer has no podSelector (every Pod of the namespaces it names).
    pod_selector: Selector | None = None
    #: None when the peer has no namespaceSelector (the policy's own namespace).
    namespace_selector: Selector | None = None
    cidr: Network | None = None
    excepts: tuple[Network, ...] = ()
    #: A problem that makes the API reject the peer ("" when valid); such a peer matches nothing.
    problem: str = ""

    def describe(self, policy_namespace: str) -> str:
        if self.problem:
            return f"invalid peer ({self.problem})"
        if self.cidr is not None:
            text = f"ipBlock {self.cidr}"
            if self.excepts:
                text += " except " + ", ".join(str(e) for e in self.excepts)
            return text
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {_selector_text(self.namespace_selector)}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {_selector_text(self.pod_selector)}")
        text = " AND ".join(parts)
        if self.namespace_selector is None:
            text += f" (in namespace {policy_namespace})"
        return text


@dataclass(frozen=True)
class CompiledPort:
    """One entry of a rule's ``ports`` list."""

    index: int
    protocol: str
    #: A number, a port name, or None (every port of the protocol).
    port: int | str | None
    end_port: int | None = None

    def describe(self) -> str:
        if self.port is None:
            return f"every {self.protocol} port"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True, eq=False)
class CompiledRule:
    index: int
    raw: Mapping[str, Any]
    #: None: the rule has no peers list, so it admits every source / destination.
    peers: tuple[CompiledPeer, ...] | None
    #: None: the rule has no ports list, so it admits every port.
    ports: tuple[CompiledPort, ...] | None


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """A NetworkPolicy with its selectors parsed and its defaults applied."""

    ref: ObjectRef
    raw: Obj
    pod_selector: Selector
    types: frozenset[str]
    ingress: tuple[CompiledRule, ...]
    egress: tuple[CompiledRule, ...]
    problems: tuple[str, ...] = ()

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    def rules(self, direction: str) -> tuple[CompiledRule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    def applies_to(self, direction: str) -> bool:
        return direction in self.types


def _selector_text(selector: Selector) -> str:
    return "{} (everything)" if selector.is_everything else str(selector)


def _selector(value: Any, what: str, problems: list[str]) -> Selector:
    try:
        return from_label_selector(value if isinstance(value, Mapping) else {})
    except SelectorError as error:
        problems.append(f"{what}: {error}")
        return NOTHING


def _network(text: Any) -> Network:
    return ipaddress.ip_network(str(text), strict=False)


def _peer(index: int, raw: Any, problems: list[str]) -> CompiledPeer:
    if not isinstance(raw, Mapping):
        return CompiledPeer(index, {}, problem="not a mapping")
    ip_block = raw.get("ipBlock")
    has_selectors = "podSelector" in raw or "namespaceSelector" in raw
    if ip_block is not None:
        if has_selectors:
            return CompiledPeer(index, raw, problem="ipBlock together with a selector")
        block = k8s.as_map(ip_block)
        try:
            cidr = _network(block.get("cidr"))
            excepts = tuple(_network(item) for item in k8s.as_list(block.get("except")))
        except ValueError as error:
            problems.append(f"ipBlock: {error}")
            return CompiledPeer(index, raw, problem=f"bad CIDR: {error}")
        return CompiledPeer(index, raw, cidr=cidr, excepts=excepts)
    if not has_selectors:
        return CompiledPeer(index, raw, problem="no podSelector, namespaceSelector or ipBlock")
    pod_selector = _selector(raw["podSelector"], "podSelector", problems) if "podSelector" in raw else None
    namespace_selector = (_selector(raw["namespaceSelector"], "namespaceSelector", problems)
                          if "namespaceSelector" in raw else None)
    return CompiledPeer(index, raw, pod_selector=pod_selector, namespace_selector=namespace_selector)


def _port(index: int, raw: Any) -> CompiledPort:
    entry = k8s.as_map(raw)
    protocol = str(entry.get("protocol") or "TCP").upper()
    value = entry.get("port")
    port: int | str | None
    if value is None or value == "":
        port = None
    elif isinstance(value, int):
        port = value
    else:
        text = str(value)
        port = int(text) if text.isdigit() else text
    end_port = entry.get("endPort")
    return CompiledPort(index, protocol, port, int(end_port) if isinstance(end_port, int) else None)


def _rule(index: int, raw: Any, peers_key: str, problems: list[str]) -> CompiledRule:
    rule = k8s.as_map(raw)
    peer_list = k8s.as_list(rule.get(peers_key))
    port_list = k8s.as_list(rule.get("ports"))
    peers = tuple(_peer(i, item, problems) for i, item in enumerate(peer_list)) if peer_list else None
    ports = tuple(_port(i, item) for i, item in enumerate(port_list)) if port_list else None
    return CompiledRule(index, rule, peers, ports)


def compile_policy(policy: Obj) -> CompiledPolicy:
    """Read one NetworkPolicy; invalid parts match nothing and are listed in ``problems``."""
    spec = k8s.spec(policy)
    problems: list[str] = []
    pod_selector = _selector(spec.get("podSelector") or {}, "spec.podSelector", problems)
    declared = [str(t) for t in k8s.as_list(spec.get("policyTypes"))]
    ingress_rules = k8s.as_list(spec.get("ingress"))
    egress_rules = k8s.as_list(spec.get("egress"))
    if declared:
        types = frozenset(t.lower() for t in declared) & {INGRESS, EGRESS}
    else:
        types = frozenset({INGRESS} | ({EGRESS} if egress_rules else set()))
    return CompiledPolicy(
        ref=k8s.ref(policy),
        raw=policy,
        pod_selector=pod_selector,
        types=types,
        ingress=tuple(_rule(i, r, "from", problems) for i, r in enumerate(ingress_rules)),
        egress=tuple(_rule(i, r, "to", problems) for i, r in enumerate(egress_rules)),
        problems=tuple(problems),
    )


def compile_policies(policies: Sequence[Obj]) -> list[CompiledPolicy]:
    return [compile_policy(policy) for policy in policies]
