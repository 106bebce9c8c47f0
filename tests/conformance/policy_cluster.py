"""The house-themed cluster of the network-policy-api conformance suite, and each case's policies.

Expands the short notation of ``network_policy_api.yaml`` into API objects: the five namespaces
and the StatefulSets the suite installs (two Pods each, one container per port it serves, with the
ports it declares), then the case's policies as one release writes them — v0.1.7:
AdminNetworkPolicy / BaselineAdminNetworkPolicy (``policy.networking.k8s.io/v1alpha1``, ``Allow``,
``ports``); v0.2.0: ClusterNetworkPolicy (``v1alpha2``, ``spec.tier``, ``Accept``, ``protocols``) —
after the changes the Go test made up to a step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.testing.cluster import ClusterBuilder, Obj

CASES_FILE = Path(__file__).with_name("network_policy_api.yaml")
GROUP = "policy.networking.k8s.io"
V1ALPHA1, V1ALPHA2 = "v0.1.7", "v0.2.0"
#: The suite's StatefulSets: namespace (house), name, and the ports each Pod's containers serve —
#: (port, protocol, declared name or "" when the container declares no port).
_HOUSE_PORTS = ((80, "TCP", "web"), (8080, "TCP", ""), (5353, "UDP", ""), (53, "UDP", "dns"), (9003, "SCTP", ""),
                (9005, "SCTP", ""))
HOUSES: tuple[tuple[str, str, tuple[tuple[int, str, str], ...]], ...] = (
    ("gryffindor", "harry-potter", _HOUSE_PORTS), ("slytherin", "draco-malfoy", _HOUSE_PORTS),
    ("hufflepuff", "cedric-diggory", _HOUSE_PORTS), ("ravenclaw", "luna-lovegood", _HOUSE_PORTS),
    ("forbidden-forrest", "centaur", ((36363, "TCP", "web-36363"), (36364, "TCP", "web-36364"),
                                      (34345, "UDP", "dns-34345"), (34346, "UDP", "dns-34346"), (9003, "SCTP", ""),
                                      (9005, "SCTP", ""))),
)

#: The houses whose Pods run in the node's network namespace (the suite's node-peer targets).
HOST_NETWORK = ("forbidden-forrest",)


@dataclass(frozen=True)
class Connection:
    client: str
    server: str
    protocol: str
    port: int
    allowed: bool

    @classmethod
    def parse(cls, text: str) -> Connection:
        client, arrow, server, port, outcome = text.split()
        assert arrow == "->" and outcome in ("allowed", "denied"), text
        protocol, _, number = port.partition("/")
        return cls(client, server, protocol, int(number), outcome == "allowed")

    def __str__(self) -> str:
        return f"{self.client} -> {self.server} {self.protocol}/{self.port}"


@dataclass(frozen=True)
class Case:
    tests: Mapping[str, str]
    file: str
    data: Mapping[str, Any]

    @property
    def id(self) -> str:
        return self.tests[V1ALPHA1]


def load() -> tuple[Mapping[str, Any], str, tuple[Case, ...]]:
    document = yaml.safe_load(CASES_FILE.read_text())
    cases = tuple(Case(item["tests"], item["file"], item) for item in document["cases"])
    return document["upstream"], document["namespace_prefix"], cases


class PolicyCluster:
    """The suite's cluster for one case, in one release's API, step by step."""

    def __init__(self, case: Case, release: str, prefix: str) -> None:
        self.case = case
        self.release = release
        self.prefix = prefix
        self.policies: dict[str, dict[str, Any]] = copy.deepcopy(dict(case.data["policies"]))
        self.network_policies: dict[str, Any] = copy.deepcopy(dict(case.data.get("network_policies") or {}))
        self.builder = ClusterBuilder()
        self.builder.node("conformance-worker", "172.18.0.3")
        self.builder.node("conformance-worker2", "172.18.0.4")
        self.pod_ips: dict[str, str] = {}
        for house, name, ports in HOUSES:
            namespace = prefix + house
            self.builder.namespace(namespace, {"conformance-house": house})
            containers = [self.builder.container(f"{name}-client", "registry.k8s.io/e2e-test-images/agnhost:2.45")]
            for port, protocol, declared in ports:
                containers.append(self.builder.container(
                    f"{name}-{port}" + ("-tcp" if house == "forbidden-forrest" and protocol == "TCP" else ""),
                    "registry.k8s.io/e2e-test-images/agnhost:2.45",
                    [{"containerPort": port, "protocol": protocol, "name": declared}] if declared else []))
            for pod in self.builder.stateful_set(namespace, name, {"conformance-house": house}, containers,
                                                 service_name=name, replicas=2):
                if house in HOST_NETWORK:
                    node = next(o for o in self.builder.objects if o["kind"] == "Node"
                                and o["metadata"]["name"] == pod["spec"]["nodeName"])
                    address = node["status"]["addresses"][0]["address"]
                    pod["spec"]["hostNetwork"] = True
                    pod["status"]["podIP"], pod["status"]["podIPs"] = address, [{"ip": address}]
                self.pod_ips[f"{house}/{pod['metadata']['name']}"] = pod["status"]["podIP"]
        self._base: list[Obj] | None = None

    def service(self, house: str, name: str, port: int, protocol: str) -> None:
        """A Service in front of a house's Pods (the suite has none; ``check`` needs one), with its endpoints."""
        assert self._base is None, "add Services before the cluster is built"
        self.builder.service(self.prefix + house, name, {"conformance-house": house},
                             [{"name": "probe", "port": port, "protocol": protocol}])

    def apply(self, change: Mapping[str, Any]) -> None:
        """One of the changes the Go test makes between sub-tests (they accumulate)."""
        (operation, arguments), = change.items()
        if operation == "swap":
            policy, direction, first, second = arguments
            rules = self.policies[policy][direction]
            rules[first], rules[second] = rules[second], rules[first]
        elif operation == "action":
            policy, direction, index, action = arguments
            self.policies[policy][direction][index][1] = action
        elif operation == "priority":
            policy, priority = arguments
            self.policies[policy]["priority"] = priority
        elif operation == "ports":
            policy, direction, index, ports = arguments
            self.policies[policy][direction][index][3:] = [ports]
        elif operation == "prepend":
            policy, direction, rule = arguments
            self.policies[policy][direction].insert(0, rule)
        elif operation == "delete":
            kind, _, where = str(arguments).partition(" ")
            assert kind == "NetworkPolicy", arguments
            del self.network_policies[where]
        else:
            raise AssertionError(f"unknown change {operation}")

    def objects(self) -> list[Obj]:
        """The cluster as it stands: the base, the NetworkPolicies and the policies in this release's API."""
        if self._base is None:
            self._base = self.builder.build()
        objects = copy.deepcopy(self._base)
        builder = ClusterBuilder()
        for where, spec in self.network_policies.items():
            house, _, name = where.partition("/")
            objects.append(builder.network_policy(self.prefix + house, name, spec))
        for name, policy in self.policies.items():
            objects.append(self._policy(name, policy))
        return objects

    # -- the notation -----------------------------------------------------------------------------

    def _selector(self, text: str) -> Obj:
        form, _, value = text.partition(":")
        if form == "name":
            return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": self.prefix + value}}}
        if form == "house":
            return {"namespaces": {"matchLabels": {"conformance-house": value}}}
        if form == "house-pods":
            return {"pods": {"namespaceSelector": {"matchLabels": {"conformance-house": value}},
                             "podSelector": {"matchLabels": {"conformance-house": value}}}}
        if form == "nodes":
            return {"nodes": {"matchLabels": {"kubernetes.io/os": value}}}
        if form == "networks":
            networks = [item.strip() for item in value.strip("[]").split(",")]
            return {"networks": [f"{self.pod_ips[item[3:]]}/32" if item.startswith("ip:") else item
                                 for item in networks]}
        raise AssertionError(f"unknown peer {text}")

    def _port(self, text: str) -> Obj:
        """``TCP/80``, ``TCP/36363-36364`` or ``named/web`` in this release's API."""
        protocol, _, value = text.partition("/")
        start, _, end = value.partition("-")
        if self.release == V1ALPHA1:
            if protocol == "named":
                return {"namedPort": value}
            if end:
                return {"portRange": {"protocol": protocol, "start": int(start), "end": int(end)}}
            return {"portNumber": {"protocol": protocol, "port": int(value)}}
        if protocol == "named":
            return {"destinationNamedPort": value}
        port = {"range": {"start": int(start), "end": int(end)}} if end else {"number": int(value)}
        return {protocol.lower(): {"destinationPort": port}}

    def _rule(self, direction: str, rule: list[Any]) -> Obj:
        name, action, peers, *ports = rule
        if self.release == V1ALPHA2 and action == "Allow":
            action = "Accept"
        written: Obj = {"name": name, "action": action, "from" if direction == "ingress" else "to": [
            self._selector(peer) for peer in (peers if isinstance(peers, list) else [peers])]}
        if ports:
            written["ports" if self.release == V1ALPHA1 else "protocols"] = [self._port(port) for port in ports[0]]
        return written

    def _policy(self, name: str, policy: Mapping[str, Any]) -> Obj:
        spec: Obj = {}
        baseline = policy["tier"] == "Baseline"
        if self.release == V1ALPHA2:
            spec["tier"] = policy["tier"]
            spec["priority"] = 10 if baseline else policy["priority"]
        elif not baseline:
            spec["priority"] = policy["priority"]
        spec["subject"] = self._selector(policy["subject"])
        for direction in ("ingress", "egress"):
            if direction in policy:
                spec[direction] = [self._rule(direction, rule) for rule in policy[direction]]
        if self.release == V1ALPHA2:
            kind, version = "ClusterNetworkPolicy", "v1alpha2"
        else:
            kind, version = ("BaselineAdminNetworkPolicy" if baseline else "AdminNetworkPolicy"), "v1alpha1"
        return ClusterBuilder().resource(f"{GROUP}/{version}", kind, None, name, spec)
