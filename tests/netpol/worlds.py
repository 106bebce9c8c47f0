"""Hypothesis strategies: small random clusters (namespaces, Pods, NetworkPolicies) as raw objects.

Labels, ports and addresses come from small vocabularies so that selectors often match and
often do not; every object is a valid API object (selectors use the four API operators).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = ("app", "tier", "team")
VALUES = ("a", "b", "c")
NAMESPACES = ("n1", "n2", "n3")
PORTS = (80, 81, 8080)
PORT_NAMES = ("http", "alt")
PROTOCOLS = ("TCP", "UDP", "SCTP")

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@st.composite
def label_selectors(draw: Any) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    match_labels = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2))
    if match_labels:
        selector["matchLabels"] = match_labels
    expressions = []
    for _ in range(draw(st.integers(0, 1))):
        operator = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expression: dict[str, Any] = {"key": draw(st.sampled_from(KEYS)), "operator": operator}
        if operator in ("In", "NotIn"):
            expression["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True))
        expressions.append(expression)
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


@st.composite
def peers(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(("pod", "namespace", "both", "ip")))
    if kind == "ip":
        block: dict[str, Any] = {"cidr": draw(st.sampled_from(("10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0")))}
        if draw(st.booleans()):
            block["except"] = [draw(st.sampled_from(("10.0.1.0/25", "10.0.0.0/24", "10.0.1.128/25")))]
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if kind in ("namespace", "both"):
        peer["namespaceSelector"] = draw(label_selectors())
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(label_selectors())
    return peer


@st.composite
def policy_ports(draw: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["protocol"] = draw(st.sampled_from(PROTOCOLS))
    choice = draw(st.sampled_from(("number", "name", "range", "none")))
    if choice == "number":
        entry["port"] = draw(st.sampled_from(PORTS))
    elif choice == "name":
        entry["port"] = draw(st.sampled_from(PORT_NAMES))
    elif choice == "range":
        entry["port"] = 80
        entry["endPort"] = draw(st.sampled_from((81, 8080)))
    return entry


@st.composite
def rules(draw: Any, side: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        rule[side] = draw(st.lists(peers(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(policy_ports(), max_size=2))
    return rule


@st.composite
def policies(draw: Any, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(label_selectors())}
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(rules("to"), max_size=2))
    if draw(st.booleans()):
        spec["policyTypes"] = draw(st.lists(st.sampled_from(("Ingress", "Egress")), min_size=1, max_size=2,
                                            unique=True))
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": draw(st.sampled_from(NAMESPACES)), "name": name}, "spec": spec}


def pod(namespace: str, name: str, pod_labels: dict[str, str], ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": name,
                                                            "labels": pod_labels},
            "spec": {"nodeName": "node-a", "containers": [{"name": "main", "image": "example/app:1", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "alt", "containerPort": 81, "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


@st.composite
def worlds(draw: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for namespace in NAMESPACES:
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace,
                                     "labels": {**draw(labels), "kubernetes.io/metadata.name": namespace}}})
    count = draw(st.integers(2, 6))
    for index in range(count):
        namespace = draw(st.sampled_from(NAMESPACES))
        ip = f"10.0.{draw(st.sampled_from((0, 1)))}.{index * 40 + draw(st.integers(1, 39))}"
        objects.append(pod(namespace, f"p{index}", draw(labels), ip))
    for index in range(draw(st.integers(0, 4))):
        objects.append(draw(policies(f"np{index}")))
    return objects


traffic = st.tuples(st.sampled_from((80, 81, 8080, 9000)), st.sampled_from(PROTOCOLS))
